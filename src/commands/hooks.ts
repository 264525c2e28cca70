import type { Args } from './spec.js';
import { ExitCode } from '../core/errors.js';
import { hooksStatus, installHooks, uninstallHooks, type HooksChange, type HooksStatus } from '../git/hooks.js';
import type { Io } from '../core/output.js';

/** One function per `git vtree hooks <action>`. */
const ACTIONS = {
  install: installHooks,
  uninstall: uninstallHooks,
  status: hooksStatus,
} satisfies Record<string, (cwd: string) => Promise<HooksStatus | HooksChange>>;

/** `git vtree hooks install|uninstall|status`. */
export default async function hooks(args: Args, io: Io): Promise<number> {
  const action = String(args.action) as keyof typeof ACTIONS;
  const result = await ACTIONS[action](process.cwd());
  if (io.json) {
    io.out(JSON.stringify({ ok: true, action, ...result }));
    return ExitCode.ok;
  }
  reportHooks(action, result, io);
  return ExitCode.ok;
}

/** Says in a few lines what `action` found or did; shared with `git vtree init`. */
export function reportHooks(action: keyof typeof ACTIONS, result: HooksStatus | HooksChange, io: Io): void {
  const hook = `${result.dir}/post-checkout`;
  const changed = 'changed' in result ? result.changed : undefined;
  const chained = result.chained ? ' (it runs the post-checkout hook that was there before first)' : '';
  if (action === 'install') io.log(changed ? `Installed vtree's post-checkout hook: ${hook}${chained}` : `vtree's post-checkout hook is already installed: ${hook}${chained}`);
  else if (action === 'uninstall') io.log(changed ? `Removed vtree's post-checkout hook from ${result.dir}${result.hook === 'other' ? ' and put back the hook that was there before' : ''}` : `vtree's post-checkout hook is not installed in ${result.dir}${result.hook === 'other' ? ' (the post-checkout hook there is not vtree\'s; left alone)' : ''}`);
  else {
    const state = result.hook === 'installed' ? `installed${result.outdated ? ' (from another vtree version: `git vtree hooks install` updates it)' : ''}${chained}` : result.hook === 'other' ? "not installed (a post-checkout hook that is not vtree's is there)" : 'not installed';
    io.log(`post-checkout hook: ${state}`);
    io.log(`hooks directory: ${result.dir}${result.hooksPath ? ` (core.hooksPath, ${result.hooksPath.scope} config)` : ''}${result.manager ? `, managed by ${result.manager}` : ''}`);
  }
  for (const warning of result.warnings) io.warn(warning);
}
