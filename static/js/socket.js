// The live stream: one Socket.IO connection, shared subscriptions per run, catch-up on reconnect.
// Every subscriber keeps the id of the last point it has; on (re)subscribe the server replays
// every point after the smallest of those, and each subscriber drops what it already has.
/* global io */
import { token } from "./api.js";

export class Live {
  constructor() {
    this.subs = new Map(); // run id -> Set<Subscription>
    this.runListeners = new Set();
    this.deletedListeners = new Set();
    this.alertListeners = new Set();
    this.stateListeners = new Set();
    this.connected = false;
    this.everConnected = false;
    this.socket = io({ transports: ["websocket"], reconnectionDelayMax: 2000, auth: { token } });
    this.socket.on("connect", () => this.onConnect());
    this.socket.on("disconnect", (reason) => {
      this.setState(false);
      // Socket.IO retries by itself except when the server closed the connection on purpose.
      if (reason === "io server disconnect") setTimeout(() => this.socket.connect(), 1000);
    });
    this.socket.on("connect_error", () => this.setState(false));
    this.socket.on("metrics", (msg) => this.each(msg.run_id, (sub) => sub.takePoints(msg.points)));
    this.socket.on("event", (ev) => this.each(ev.run_id, (sub) => sub.handlers.onEvent?.(ev)));
    this.socket.on("snapshot", (s) => this.each(s.run_id, (sub) => sub.handlers.onSnapshot?.(s)));
    this.socket.on("checkpoints_changed", (msg) =>
      this.each(msg.run_id, (sub) => sub.handlers.onCheckpoints?.()),
    );
    this.socket.on("run", (run) => {
      for (const fn of this.runListeners) fn(run);
    });
    this.socket.on("run_deleted", (msg) => {
      for (const fn of this.deletedListeners) fn(msg.id);
    });
    this.socket.on("alert", (note) => {
      for (const fn of this.alertListeners) fn(note);
    });
  }

  onConnect() {
    const reconnect = this.everConnected;
    this.everConnected = true;
    for (const runId of this.subs.keys()) this.emitSubscribe(runId);
    this.setState(true, reconnect);
  }

  setState(connected, reconnect = false) {
    const changed = connected !== this.connected;
    this.connected = connected;
    if (changed || reconnect) for (const fn of this.stateListeners) fn(connected, reconnect);
  }

  each(runId, fn) {
    const set = this.subs.get(runId);
    if (set) for (const sub of [...set]) fn(sub);
  }

  emitSubscribe(runId) {
    const set = this.subs.get(runId);
    if (!set || !set.size || !this.socket.connected) return;
    const sinceId = Math.min(...[...set].map((s) => s.lastId));
    this.socket.emit("subscribe", { run_id: runId, since_id: sinceId }, () => {
      for (const sub of this.subs.get(runId) || []) if (!sub.closed) sub.handlers.onSubscribed?.();
    });
  }

  /**
   * Receive a run's points after sinceId, live. handlers: onPoints(points), onEvent(event),
   * onSnapshot(snapshot), onCheckpoints() (one was deleted), onSubscribed() (each time the
   * server confirms, also after reconnects).
   */
  subscribe(runId, sinceId, handlers) {
    const sub = new Subscription(this, runId, sinceId, handlers);
    if (!this.subs.has(runId)) this.subs.set(runId, new Set());
    this.subs.get(runId).add(sub);
    this.emitSubscribe(runId);
    return sub;
  }

  release(sub) {
    const set = this.subs.get(sub.runId);
    if (!set) return;
    set.delete(sub);
    if (!set.size) {
      this.subs.delete(sub.runId);
      if (this.socket.connected) this.socket.emit("unsubscribe", { run_id: sub.runId });
    }
  }

  /** fn(run) on every run object the server broadcasts (status, step or hparams changed). */
  onRun(fn) {
    this.runListeners.add(fn);
  }

  /** fn(runId) when a run is deleted (here or in another window). */
  onRunDeleted(fn) {
    this.deletedListeners.add(fn);
  }

  /** fn(note) for each alert a script raises (wandb.alert), whichever run it is. */
  onAlert(fn) {
    this.alertListeners.add(fn);
  }

  /** fn(connected, reconnected) when the connection drops or comes back. */
  onState(fn) {
    this.stateListeners.add(fn);
  }
}

class Subscription {
  constructor(live, runId, sinceId, handlers) {
    this.live = live;
    this.runId = runId;
    this.lastId = sinceId || 0;
    this.handlers = handlers;
    this.closed = false;
  }

  takePoints(points) {
    if (this.closed) return;
    // A replay after (re)subscribing may repeat points this subscriber already holds.
    const fresh = [];
    let last = this.lastId;
    for (const p of points) {
      if (p[0] > this.lastId) {
        fresh.push(p);
        if (p[0] > last) last = p[0];
      }
    }
    if (!fresh.length) return;
    this.lastId = last;
    this.handlers.onPoints?.(fresh);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.live.release(this);
  }
}
