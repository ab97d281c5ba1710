// Loading a run's snapshots of one kind for a view that shows them (samples, distributions).
import * as api from "./api.js";

/**
 * The run's snapshots of `kind`, oldest first; null when loading failed (reported through
 * view.onError, except a run that is gone) or the view moved to another run meanwhile.
 */
export async function loadSnapshots(view, runId, kind) {
  try {
    const rows = await api.snapshots(runId, kind);
    return view.runId === runId ? rows : null;
  } catch (error) {
    if (error.status !== 404) view.onError(error.message);
    return null;
  }
}
