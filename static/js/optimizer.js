// What the optimizer really uses, from the run's latest `optimizer` snapshot
// ({groups: [{lr, weight_decay, momentum}], lr_mode, lr_factor, scheduled}):
// - how an lr change applies (scale the schedule, or override it) and "Release" while lr is
//   pinned. The switch shows only where it makes a difference: a run with an LR schedule, or
//   one whose lr is pinned (so it can be released). Without a schedule both modes just set lr.
// - a table of the param groups when there is more than one, following every step: a schedule
//   moves lr each step, snapshots follow it only now and then, while the run's lr (group 0's, in
//   every run broadcast) is always current; every group moves by the same factor.
import * as api from "./api.js";
import { isLive, number } from "./format.js";
import { t } from "./i18n.js";

const RELEASE_WAIT_MS = 3000;

export class OptimizerView {
  /** say(text, className, alert) reports in the hparam panel's message line. */
  constructor(say) {
    this.say = say;
    this.box = document.getElementById("lr-mode");
    this.state = document.getElementById("lr-mode-state");
    this.releaseButton = document.getElementById("lr-release");
    this.radios = [...this.box.querySelectorAll('input[name="lr-mode"]')];
    this.groupsBox = document.getElementById("hp-groups");
    this.groupsBody = document.getElementById("hp-groups-body");
    this.run = null;
    this.snapshot = null;
    this.releasing = false;
    this.releaseButton.addEventListener("click", () => this.release());
  }

  /** Put the mode switch under the lr field (null: the run has no live lr). */
  attach(lrField) {
    if (lrField) lrField.root.append(this.box);
    this.hasLr = Boolean(lrField);
    this.render();
  }

  /** A run object arrived; a different run starts without a snapshot and in scale mode. */
  setRun(run) {
    if (!this.run || this.run.id !== run.id) {
      this.snapshot = null;
      this.releasing = false;
      this.setMode("scale");
    }
    this.run = run;
    this.render();
  }

  /** The latest optimizer snapshot (fetched or broadcast); older ones are ignored. */
  show(snapshot) {
    if (!snapshot || !this.run || snapshot.run_id !== this.run.id) return;
    if (this.snapshot && snapshot.id < this.snapshot.id) return;
    // A new mode (pinned, released) is also the likeliest mode of the next change.
    if (this.snapshot?.payload.lr_mode !== snapshot.payload.lr_mode) {
      this.releasing = false;
      this.setMode(snapshot.payload.lr_mode === "override" ? "override" : "scale");
    }
    this.snapshot = snapshot;
    this.render();
  }

  /** "scale" or "override" while the switch shows, else null (the server's default applies). */
  mode() {
    if (this.box.hidden) return null;
    return this.radios.find((r) => r.checked)?.value ?? "scale";
  }

  setMode(mode) {
    for (const radio of this.radios) radio.checked = radio.value === mode;
  }

  pinned() {
    return this.snapshot?.payload.lr_mode === "override";
  }

  render() {
    const payload = this.snapshot?.payload ?? {};
    const live = Boolean(this.run) && isLive(this.run);
    this.box.hidden = !this.hasLr || !(payload.scheduled || this.pinned());
    for (const radio of this.radios) radio.disabled = !live;
    this.releaseButton.disabled = !live || !this.pinned() || this.releasing;
    this.state.textContent = this.stateText(payload);
    this.renderGroups(this.currentGroups());
  }

  /** The newest snapshot's groups, their lrs moved with the run's lr where it is newer. */
  currentGroups() {
    const groups = this.snapshot?.payload.groups ?? [];
    const lr = this.run?.hparams?.lr;
    const first = groups[0]?.lr;
    const newer = this.run && this.snapshot && this.run.step > this.snapshot.step;
    if (!newer || typeof lr !== "number" || !(first > 0) || lr === first) return groups;
    return groups.map((group) => ({ ...group, lr: group.lr * (lr / first) }));
  }

  stateText(payload) {
    if (!this.snapshot) return "";
    const lr = payload.groups?.[0]?.lr;
    if (this.pinned()) return t("hp.lrPinned", { value: number(lr) });
    const factor = payload.lr_factor ?? 1;
    if (factor !== 1) return t("hp.lrScaled", { factor: number(factor, 3) });
    return t("hp.lrFollows");
  }

  renderGroups(groups) {
    this.groupsBox.hidden = groups.length < 2;
    this.groupsBody.replaceChildren(
      ...groups.map((group, index) => {
        const row = document.createElement("tr");
        const head = document.createElement("th");
        head.scope = "row";
        head.textContent = String(index);
        row.append(head);
        for (const name of ["lr", "weight_decay", "momentum"]) {
          const cell = document.createElement("td");
          cell.className = "text-end font-monospace";
          cell.dataset.name = name;
          cell.textContent = number(group[name]);
          row.append(cell);
        }
        return row;
      }),
    );
  }

  async release() {
    const run = this.run;
    if (!run) return;
    this.releasing = true;
    this.render();
    try {
      await api.control(run.id, "release");
      this.say(t("hp.lrReleaseSent"), "text-success");
    } catch (error) {
      this.releasing = false;
      this.say(error.message, "text-danger", true);
      this.render();
      return;
    }
    // If no snapshot answers (the run never applied it), give the button back.
    setTimeout(() => {
      if (this.releasing && this.run && this.run.id === run.id) {
        this.releasing = false;
        this.render();
      }
    }, RELEASE_WAIT_MS);
  }

  refreshLanguage() {
    this.render();
  }
}
