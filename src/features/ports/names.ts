import { changesHowProgramsRun } from '../../core/env-names.js';

/**
 * Which port variable names a clone may make vtree set. A name from the committed `.vtreeconfig`
 * (`vtree.ports.vars`) or from a compose file (`${API_PORT:-3000}`) ends up in the worktree's
 * `.env`, in Compose's environment and in every project task's: a name such as `BASH_ENV`,
 * `LD_PRELOAD` or `NODE_OPTIONS` would then change how those programs run (`BASH_ENV=29917`
 * makes every bash source the committed file `./29917`). So a clone's name must look like a port
 * (a plain name with `PORT` in it) and belong to no family that programs read as settings. Names
 * from the user's own git config are not judged.
 */
export function isHarmlessPortVariable(name: string): boolean {
  return PORT_SHAPE.test(name) && /PORT/i.test(name) && !/^VTREE_(?!PORT_)/i.test(name) && !changesHowProgramsRun(name);
}

/** A plain variable name: `PORT`, `API_PORT`, `VTREE_PORT_WEB_80`, `PORT_HTTP`. */
const PORT_SHAPE = /^[A-Za-z][A-Za-z0-9_]*$/;
