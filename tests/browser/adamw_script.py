"""A plain AdamW script as users write it, for the page tests of panels and charts.

Two param groups (weights, and biases at a tenth of the lr), CosineAnnealingLR, gradient norms
and update ratios (`run.watch(..., log_grads, log_histograms)`), system metrics every 0.2 s,
and the keys `train/loss`, `train/acc` every step and `val/loss`, `val/acc` every VAL_EVERY
steps.
"""

from __future__ import annotations

import threading

from script_runs import ScriptRun

VAL_EVERY = 25
GRADS_EVERY = 5


class AdamWScript(ScriptRun):
    def __init__(self, db_path, steps: int, name: str = "adamw") -> None:
        import torch

        torch.manual_seed(0)
        self.steps = steps
        self.model = torch.nn.Sequential(
            torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)
        )
        # A parameter the forward pass never uses (a head for another task): it never moves,
        # so its update ratio is 0, which no log axis can show.
        self.model.unused = torch.nn.Parameter(torch.ones(2))
        weights = [p for p in self.model.parameters() if p.dim() >= 2]
        biases = [p for p in self.model.parameters() if p.dim() < 2]
        self.optimizer = torch.optim.AdamW(
            [{"params": weights, "lr": 0.02}, {"params": biases, "lr": 0.002}], weight_decay=0.01
        )
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, steps)
        self.train_x, self.train_y = self.blobs(256)
        self.val_x, self.val_y = self.blobs(128)
        self.start(db_path, name)

    def start(self, db_path, name: str) -> None:
        """ScriptRun's start, with system metrics every 0.2 s (so a short test sees sys/ keys)."""
        from lernkurve.tracking import client

        self.run = client.init(
            name=name, config={"lr": 0.02}, live=["lr"], db=db_path, system_metrics=0.2
        )
        self.db_path = db_path
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.train, daemon=True)
        self.thread.start()

    @staticmethod
    def blobs(n: int):
        import torch

        y = torch.randint(0, 2, (n,))
        x = torch.randn(n, 2) * 0.6 + (y.float() * 2 - 1).unsqueeze(1)
        return x, y

    def measure(self, x, y):
        import torch

        logits = self.model(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        acc = (logits.argmax(1) == y).float().mean()
        return loss, acc.item()

    def train(self) -> None:
        import torch

        self.run.watch(
            self.model,
            self.optimizer,
            scheduler=self.scheduler,
            log_grads=GRADS_EVERY,
            log_histograms=50,
        )
        with self.run:
            for step in self.run.steps(self.steps):
                loss, acc = self.measure(self.train_x, self.train_y)
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                self.scheduler.step()
                values = {"train/loss": loss.item(), "train/acc": acc}
                if step % VAL_EVERY == 0:
                    with torch.no_grad():
                        val_loss, val_acc = self.measure(self.val_x, self.val_y)
                    values.update({"val/loss": val_loss.item(), "val/acc": val_acc})
                self.run.log(values, step=step)
                if self.done.wait(0.005):
                    break


def serve_one_run(tmp_path_factory, steps: int):
    """The app on a free port (as conftest's `server`) with one AdamW run trained to its end:
    for a module-scoped `server`, so the tests of a module look at one run (it takes a while).
    Yields the server with its `run_id`."""
    import secrets
    from types import SimpleNamespace

    from lernkurve.launch import build_app
    from lernkurve.web.app import start_app
    from lernkurve.web.server import ServerThread
    from support import Api

    folder = tmp_path_factory.mktemp("adamw")
    token = secrets.token_urlsafe(16)
    db_path = folder / "browser.db"
    config = {"DATABASE": str(db_path), "TOKEN": token, "DATA_DIR": str(folder / "data")}
    app = start_app(build_app(config))
    thread = ServerThread(app, "127.0.0.1", 0).start()
    api = Api(app, token)
    script = AdamWScript(db_path, steps=steps)
    try:
        api.wait_status(script.run.id, "completed", timeout=240)
        yield SimpleNamespace(
            app=app,
            base_url=thread.base_url,
            token=token,
            api=api,
            db_path=db_path,
            run_id=script.run.id,
        )
    finally:
        script.finish()
        app.extensions["lernkurve"].shutdown()
        thread.stop()
