"""``completion bash|zsh``: a script completing the commands and their options."""

from __future__ import annotations

import argparse

from lernkurve.cli_commands.context import Context

BASH = """# lernkurve completion: eval "$(lernkurve completion bash)" (in ~/.bashrc)
_lernkurve() {
    local cur="${COMP_WORDS[COMP_CWORD]}" words=""
    if [ "$COMP_CWORD" -eq 1 ]; then
        words="%(commands)s"
    else
        case "${COMP_WORDS[1]}" in
%(cases)s
        esac
    fi
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _lernkurve lernkurve
"""

ZSH = """# lernkurve completion: eval "$(lernkurve completion zsh)" (in ~/.zshrc)
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
"""


def add(sub, parent: argparse.ArgumentParser) -> None:
    """The completion command's parser."""
    p = sub.add_parser("completion", help="print a shell completion script")
    p.add_argument("shell", choices=("bash", "zsh"))
    p.set_defaults(func=completion)


def completion(args: argparse.Namespace, ctx: Context) -> None:
    """Print the script for ``args.shell``."""
    script = bash_script(ctx.parser, ctx.others)
    print(ZSH + script if args.shell == "zsh" else script, end="")


def bash_script(parser: argparse.ArgumentParser, others: list[str]) -> str:
    """The bash completion, its words taken from the commands' own parsers; ``others``: the
    app's own commands (serve, train, ...)."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    cases = []
    for name, command in sub.choices.items():
        words = _words(command)
        cases.append(f'            {name}) words="{" ".join(words)}" ;;')
    commands = " ".join([*others, *sub.choices, "--help", "--version"])
    return BASH % {"commands": commands, "cases": "\n".join(cases)}


def _words(parser: argparse.ArgumentParser) -> list[str]:
    """A command's long options and the choices of its positional arguments."""
    actions = parser._actions
    words = [o for a in actions for o in a.option_strings if o.startswith("--")]
    return words + [c for a in actions if a.choices and not a.option_strings for c in a.choices]
