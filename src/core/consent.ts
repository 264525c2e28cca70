import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { readJsonFile, writeFileAtomic } from './files.js';
import { withLock } from './lock.js';
import { machineStateDir, trustStorePath } from './paths.js';
import { canAsk, confirm } from './prompt.js';

/**
 * The user's consent to what a clone asks vtree to run (project tasks, the Compose stack), kept
 * machine-wide in `trust.json` under the state directory. What each approval covers is decided
 * by the feature that asks (tasks: a definition's exact text; the stack: its host access); this
 * module only stores approvals and asks the question. See docs/trust.md.
 */

/** The command that reviews and approves what a repository asks to run. */
export const TRUST_COMMAND = 'git vtree trust';

/** One approval, in the repository whose main worktree is `repo`. */
export interface Approval {
  repo: string;
  /** `task`, `teardown` or `stack`. */
  kind: string;
  name: string;
  /** A task's command, as approved. */
  run?: string;
  /** The stack's host access, as approved (each item one line). */
  hostAccess?: string[];
  approvedAt: string;
}

/** The machine-wide trust store, by approval key. */
interface TrustStore {
  approved: Record<string, Approval>;
}

/** Every approval on this machine, by key. A damaged store approves nothing; approving again rewrites it. */
export async function readApprovals(env: NodeJS.ProcessEnv = process.env): Promise<Record<string, Approval>> {
  const store = await readJsonFile<TrustStore>(trustStorePath(env)).catch(() => undefined);
  return store && typeof store.approved === 'object' && store.approved !== null ? store.approved : {};
}

/**
 * Records approvals (by key). An approval of the same repository, kind and name is superseded,
 * not kept beside it: `merge` may carry what it approved into the new one.
 */
export async function recordApprovals(
  entries: ReadonlyArray<{ key: string; approval: Omit<Approval, 'approvedAt'> }>,
  env: NodeJS.ProcessEnv = process.env,
  merge?: (next: Omit<Approval, 'approvedAt'>, old: Approval) => Omit<Approval, 'approvedAt'>,
): Promise<void> {
  if (entries.length === 0) return;
  await withLock(join(machineStateDir(env), 'locks', 'trust.lock'), async () => {
    const approved = await readApprovals(env);
    const approvedAt = new Date().toISOString();
    for (const { key, approval } of entries) {
      let next = approval;
      for (const [oldKey, old] of Object.entries(approved)) {
        if (old.repo !== approval.repo || old.kind !== approval.kind || old.name !== approval.name) continue;
        if (merge) next = merge(next, old);
        delete approved[oldKey];
      }
      approved[key] = { ...next, approvedAt };
    }
    await writeFileAtomic(trustStorePath(env), JSON.stringify({ approved }, null, 2) + '\n', { mode: 0o600 });
  });
}

/** Where a committed command stands with the user. */
export type TrustState = 'approved' | 'new' | 'changed';

/** A command a repository asks to run, approved by its exact text. */
export interface AskedText {
  /** `task`, `teardown`, `install`, ... */
  kind: string;
  name: string;
  /** What the approval covers: an edit of it asks again. */
  text: string;
  /** The command as shown and stored with the approval. */
  run: string;
}

/**
 * The approval key of `item`: a hash of the repository's main worktree path and its text, so that
 * an edited command, or the same text in another clone, needs approving again.
 */
function textKey(mainPath: string, item: AskedText): string {
  return createHash('sha256').update(mainPath).update('\0').update(item.text).digest('hex');
}

/**
 * How each item stands: `approved` when the user approved exactly its text in this repository,
 * `changed` when they approved an earlier text of the same kind and name, else `new`.
 */
export async function textStates(mainPath: string, items: readonly AskedText[], env: NodeJS.ProcessEnv = process.env): Promise<TrustState[]> {
  const approved = items.length > 0 ? await readApprovals(env) : {};
  const approvals = Object.values(approved);
  return items.map((item) => {
    if (approved[textKey(mainPath, item)]) return 'approved';
    return approvals.some((a) => a.repo === mainPath && a.kind === item.kind && a.name === item.name) ? 'changed' : 'new';
  });
}

/** Records the user's approval of `items` (as they are now) in the repository at `mainPath`. */
export async function approveTexts(mainPath: string, items: readonly AskedText[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await recordApprovals(
    items.map((item) => ({ key: textKey(mainPath, item), approval: { repo: mainPath, kind: item.kind, name: item.name, run: item.run } })),
    env,
  );
}

/** Questions wait for the one before: two set-up steps asking at once would share one terminal. */
let asking: Promise<unknown> = Promise.resolve();

/**
 * Shows `lines` on the terminal and asks `question`, when vtree may ask (`interactive` and a
 * terminal on stdin and stderr, not a background job). False without asking otherwise.
 */
export async function askConsent(interactive: boolean, lines: readonly string[], question: string): Promise<boolean> {
  if (!interactive || !canAsk()) return false;
  const turn = asking.then(() => {
    // Straight to the terminal: the question must show what it approves even under --json.
    process.stderr.write(`${lines.join('\n')}\n`);
    return confirm(question);
  });
  asking = turn.catch(() => undefined);
  return turn;
}
