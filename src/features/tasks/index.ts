/**
 * Project tasks: the project's own set-up steps (`[vtree "task.<name>"]`), each a step of the
 * set-up graph after the built-in steps it names, in the foreground or in a detached job after
 * the stack is up, with its log and its state in `vtree-tasks.json` (`status.ts`); and teardown
 * steps (`[vtree "teardown.<name>"]`) that `rm` runs before the stack goes down. Commands from the
 * committed `.vtreeconfig` run only once the user approved their exact text (`trust.ts`,
 * `consent.ts`); the user's own git config needs no approval.
 *
 * Plugs into the repository stage (reading and approving), then adds one step per task.
 */
export { tasksFeature } from './feature.js';
