/**
 * Seed: seeded database volumes per worktree. A project declares `[vtree "seed.<volume>"]`
 * (service, run, inputs); a golden copy of the volume is built once per key (image id, run text,
 * committed inputs) in a scratch Compose project and kept, stopped, in vtree's cache
 * (`store.ts`, `build.ts`); each worktree gets its own reflink (or copied) clone as a
 * bind-backed Docker volume Compose adopts (`volume.ts`).
 *
 * Plugs into the checkout stage, before the services feature starts the stack (`seed-volumes`);
 * its teardown removes the clone after the stack is down.
 */
export { seedFeature, SEED_VOLUMES, removeClones, seedVolumes, startSeedJobs, type SeedClones } from './feature.js';
