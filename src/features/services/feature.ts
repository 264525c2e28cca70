import type { ComposeModel, PortVar } from './compose.js';
import type { ComposeProject, ComposeRuntime, RuntimeDetection } from './runtime.js';
import type { Task, TaskContext } from '../../core/graph.js';
import type { CheckoutStage, Feature, RemoveShared, RemoveTarget, RepoStage, SetupShared, TargetStage } from '../feature.js';
import type { ServicesJobPlan } from './stack.js';
import type { ServicesRecord, StackState } from './stack.js';
import type { StackDown } from './teardown.js';
import type { Config } from '../../git/config.js';
import { composeCacheDir, composeRuntimeCachePath, OVERRIDE_FILE_NAME } from '../../core/paths.js';
import { UsageError } from '../../core/errors.js';

/** Result of `compose-discover`, read by the ports feature (`portVars`). */
export interface ComposeDiscovery {
  files: string[];
  portVars: PortVar[];
  model: ComposeModel;
}

/** The step that settles the stack's files and project name; the seed feature clones volumes after it. */
export const COMPOSE_MODEL = 'compose-model';

/** Result of `compose-model`: the project name and the stack the worktree runs, vtree's override aside. */
export interface ComposeStack {
  projectName: string;
  model: ComposeModel;
}

/** Result of `compose-override`, read by the env-block feature. */
export interface ComposeOverride {
  projectName: string;
  /** `COMPOSE_FILE` for the worktree's `.env`: the project's files and the generated override. */
  composeFile?: string;
  /** The `-f` files vtree passes itself. */
  files: string[];
  model: ComposeModel;
}

/**
 * The step that waits while a removed worktree's stack of the same Compose project is being taken
 * down in the background; the seed feature makes volumes and `services-start` starts after it.
 */
export const PREVIOUS_STACK = 'previous-stack';

/** Name of the ready point "critical services up", which project tasks may run after. */
export const SERVICES_READY = 'services-ready';

/** Result of `services-ready`: waits until the critical services are up (at once when there are none). */
export interface ServicesReady {
  wait(signal: AbortSignal): Promise<void>;
}

/** What `services-start` leaves for its undo. */
interface Started {
  record: ServicesRecord;
  project?: ComposeProject;
  detection?: RuntimeDetection;
}

/**
 * The worktree's own Compose stack: its files are found and parsed from the target commit while
 * git checks it out, literal host ports and container names are remapped by a generated
 * override, and the stack starts critical services first, in a detached job unless `--wait`.
 * No engine, no compose file or a broken one: one line, services recorded as `none`/`failed`,
 * and the worktree is still made.
 */
export const servicesFeature: Feature = {
  name: 'services',
  setupTasks: (stages) => {
    const sameStage = stages.target === stages.checkout;
    const tasks: Task<SetupShared>[] = [
      {
        name: 'compose-runtime',
        // After discovery (about 15 ms, from the object store): a repository without a compose
        // file never pays for starting the docker CLI, whose probes cost tens of ms of CPU that
        // `git worktree add` would otherwise share on a small machine.
        deps: [stages.repo, 'compose-discover'],
        async run({ shared, span }, deps): Promise<RuntimeDetection> {
          // --no-services is the reason before a missing compose file is.
          if (shared.options.services && (deps['compose-discover'] as ComposeDiscovery).files.length === 0) return { missing: 'no compose file' };
          const { repo, config } = deps[stages.repo] as RepoStage;
          const unwanted = await notStarting(shared, config);
          if (unwanted) return { missing: unwanted };
          const { detectComposeRuntime } = await import('./runtime.js');
          const detection = await detectComposeRuntime(config.string('vtree.compose.command'), process.env, composeRuntimeCachePath(repo.commonDir));
          span.set('runtime', 'runtime' in detection ? `${detection.runtime.name} ${detection.runtime.version}` : detection.missing);
          return detection;
        },
      },
      {
        name: 'compose-discover',
        deps: [stages.repo, stages.target],
        async run({ span }, deps): Promise<ComposeDiscovery> {
          const { repo, config } = deps[stages.repo] as RepoStage;
          const target = deps[stages.target] as TargetStage;
          const { composeFileSettings, directorySource, discoverCompose, objectStoreSource } = await import('./compose.js');
          const settings = await composeFileSettings(config.list('vtree.compose.files'), repo.mainPath);
          const cache = composeCacheDir(repo.commonDir);
          // Before checkout, the committed files are already in the object store.
          let model = await discoverCompose(sameStage ? directorySource(target.path) : objectStoreSource(repo.cwd, target.commit), settings, cache).catch(() => undefined);
          model ??= await discoverCompose(directorySource(target.path), settings, cache);
          span.set('files', model.files);
          span.set('portVars', model.portVars.length);
          if (model.error) span.set('error', model.error);
          return { files: model.files, portVars: model.portVars, model };
        },
      },
      {
        // The stack as the worktree will run it, before its ports are known: what a seeded volume
        // needs to be cloned while the ports are leased.
        name: COMPOSE_MODEL,
        deps: [stages.repo, stages.target, stages.checkout, 'compose-discover'],
        after: ['env-files'],
        async run(_ctx, deps): Promise<ComposeStack> {
          const { repo, config } = deps[stages.repo] as RepoStage;
          const target = deps[stages.target] as TargetStage;
          const checkout = deps[stages.checkout] as CheckoutStage;
          let { model } = deps['compose-discover'] as ComposeDiscovery;
          if (model.origin === 'default' || model.origin === 'none') {
            // An ignored override copied into the checkout (env-files) is part of the project too.
            const { composeFileSettings, directorySource, discoverCompose } = await import('./compose.js');
            const settings = await composeFileSettings(config.list('vtree.compose.files'), repo.mainPath);
            const onDisk = await discoverCompose(directorySource(checkout.path), settings, composeCacheDir(repo.commonDir));
            if (onDisk.files.join('\0') !== model.files.join('\0')) model = onDisk;
          }
          return { projectName: target.project, model };
        },
      },
      {
        name: 'compose-override',
        deps: [stages.checkout, COMPOSE_MODEL],
        after: ['ports'],
        async run({ shared, span }, deps): Promise<ComposeOverride> {
          const checkout = deps[stages.checkout] as CheckoutStage;
          const ports = (deps.ports ?? {}) as Record<string, number>;
          const { composeFileValue, planOverride, writeOverride } = await import('./compose.js');
          const { projectName, model } = deps[COMPOSE_MODEL] as ComposeStack;
          const plan = planOverride(model, projectName, ports);
          const override = model.files.length > 0 && !model.error ? await writeOverride(checkout.gitDir, plan.yaml) : undefined;
          const files = [...model.files, ...(override ? [override] : [])];
          span.set('project', projectName);
          if (override) {
            span.set('override', { ports: plan.remappedPorts, containerNames: plan.containerNames, fixedNames: plan.fixedNames });
            shared.facts.compose = { files, remappedPorts: plan.remappedPorts, containerNames: plan.containerNames, fixedNames: plan.fixedNames };
          }
          if (plan.unmapped.length > 0) shared.warn(`services: cannot give these host ports per-worktree values, they may collide: ${plan.unmapped.join('; ')}`);
          const result: ComposeOverride = { projectName, files, model };
          if (override) result.composeFile = composeFileValue(model.files, override, process.env.COMPOSE_PATH_SEPARATOR || undefined);
          return result;
        },
        async undo(_ctx, result) {
          const override = (result as ComposeOverride).files.find((f) => f.endsWith(OVERRIDE_FILE_NAME));
          if (override) await (await import('node:fs/promises')).rm(override, { force: true });
        },
      },
      {
        // `rm` of a worktree of this branch a moment ago left its stack to a background job, which
        // takes down what bears the same project name: this worktree's network and volumes too,
        // were they made meanwhile, and the seeded clone this worktree would keep as its own.
        name: PREVIOUS_STACK,
        deps: [stages.repo, stages.target, 'compose-discover'],
        async run({ shared, span, signal }, deps) {
          const { repo, config } = deps[stages.repo] as RepoStage;
          const target = deps[stages.target] as TargetStage;
          if ((deps['compose-discover'] as ComposeDiscovery).files.length === 0 || (await notStarting(shared, config))) return;
          const [{ awaitStackDown }, { waitTimeoutMs }] = await Promise.all([import('./removals.js'), import('./stack.js')]);
          const { project } = target;
          const started = Date.now();
          const { waitedFor, stillGoing, stalled } = await awaitStackDown(repo.commonDir, project, {
            timeoutMs: waitTimeoutMs(config),
            signal,
            onWait: (removal) => shared.log(`services: stack ${project} of the removed worktree ${removal.path} is still going down; waiting for it (log: ${removal.log})`),
          });
          if (waitedFor) span.set('waitedMs', Date.now() - started);
          if (stalled) shared.warn(`services: stack ${project} of the removed worktree ${stalled.path} was not taken down (log: ${stalled.log}); this worktree's stack takes over its containers and volumes; to start afresh: git vtree down --volumes, then git vtree up`);
          if (stillGoing) shared.warn(`services: stack ${project} of the removed worktree ${stillGoing.path} is still going down (log: ${stillGoing.log}); this worktree's stack may lose its network or volumes to it: git vtree up once it is down`);
        },
      },
      {
        name: 'services-pull',
        // Not after compose-runtime: its first probe of Compose's version (a process per candidate)
        // can take longer than git's checkout, and the images need only the engine.
        deps: [stages.repo, 'compose-discover'],
        async run({ shared, span, signal }, deps) {
          // Images the stack lacks start downloading while git still checks out.
          const { model } = deps['compose-discover'] as ComposeDiscovery;
          if (model.files.length === 0) return;
          const { repo, config } = deps[stages.repo] as RepoStage;
          if (await notStarting(shared, config)) return;
          // Only for a stack already trusted (judged by its files' letters: it is not checked out yet); services-start asks.
          const { stackTrust } = await import('./consent.js');
          const trust = await stackTrust(repo.mainPath, model, config);
          if (trust.state !== 'approved' && trust.state !== 'own') return void span.set('skipped', 'stack not trusted yet');
          const [{ pulledImages }, { missingImages, pullImages }, { engineOf }] = await Promise.all([import('./compose.js'), import('./stack.js'), import('./runtime.js')]);
          const engine = engineOf(config.string('vtree.compose.command'));
          // No engine to ask: compose-runtime says so, once.
          const missing = await missingImages(engine, pulledImages(model), signal).catch(() => undefined);
          if (missing === undefined) return void span.set('skipped', 'no engine answered');
          span.set('missing', missing);
          if (missing.length === 0) return;
          // Under --wait a failed pull is Compose's to report, with the service, when it starts it.
          if (shared.options.wait) return void (await pullImages(engine, missing, signal));
          const { startBackgroundJob } = await import('../../core/background.js');
          span.set('log', await startBackgroundJob({ job: 'image-pull', id: shared.runId, commonDir: repo.commonDir, args: [shared.runId, engine, ...missing], cwd: repo.cwd }));
        },
      },
      {
        name: 'services-start',
        deps: [stages.repo, stages.target, stages.checkout, 'compose-discover', 'compose-runtime', 'compose-override'],
        // Not after services-pull: Compose joins a pull already under way. After seed-volumes: a
        // seeded volume must be the worktree's clone before Compose would create it empty.
        after: ['env-block', 'ports', 'seed-volumes', PREVIOUS_STACK],
        async run({ shared, span, profiler, signal }, deps): Promise<Started> {
          const { repo, config } = deps[stages.repo] as RepoStage;
          const target = deps[stages.target] as TargetStage;
          const checkout = deps[stages.checkout] as CheckoutStage;
          const override = deps['compose-override'] as ComposeOverride;
          const detection = deps['compose-runtime'] as RuntimeDetection;
          const ports = (deps.ports ?? {}) as Record<string, number>;
          const [{ planStart, readServicesStatus, servicesStartMode, stopStartJob, writeServicesStatus }, { portEnv }] = await Promise.all([import('./stack.js'), import('./runtime.js')]);
          const { model } = override;
          const base: ServicesRecord = { state: 'none', project: override.projectName, files: override.files };
          const settle = async (record: ServicesRecord, line: string, level: 'log' | 'warn'): Promise<Started> => {
            span.set('state', record.state);
            shared.facts.services = { state: record.state, ...(record.reason ? { reason: record.reason } : {}) };
            shared.state.services = record;
            await writeServicesStatus(checkout.gitDir, record);
            shared[level](line);
            return { record };
          };
          if (model.error) return settle({ ...base, state: 'failed', reason: model.error }, `services: not started — ${model.error}`, 'warn');
          if (model.files.length === 0) return settle({ ...base, reason: 'no compose file' }, 'services: none (no compose file)', 'log');
          const configured = config.list('vtree.services.critical');
          const unknown = configured.filter((name) => !model.services.some((service) => service.name === name));
          if (unknown.length > 0) shared.warn(`config vtree.services.critical names no service of the stack: ${unknown.join(', ')}`);
          const scope = shared.options.servicesScope;
          const strangers = (scope ?? []).filter((name) => !model.services.some((service) => service.name === name));
          if (strangers.length > 0) throw new UsageError(`--services: no service ${strangers.join(', ')} in the stack (it has ${model.services.map((s) => s.name).join(', ')})`);
          // A scope is started as one critical phase; `critical` leaves the deferred services for `git vtree up`.
          const { critical, deferred } = scope ? { critical: scope, deferred: [] } : planStart(model, configured);
          const later = !scope && servicesStartMode(config) === 'critical' ? deferred : [];
          if (!('runtime' in detection)) {
            const chosen = detection.missing.startsWith('not started');
            const level = chosen ? 'log' : 'warn';
            const line = `services: none — ${detection.missing}${chosen ? '; start them with: git vtree up' : ''}`;
            return settle({ ...base, reason: detection.missing, critical, deferred }, line, level);
          }
          // Compose runs what the files say, on the host: only once the user trusts this stack.
          const { stackConsent } = await import('./consent.js');
          const consent = await stackConsent(repo.mainPath, model, config, { dir: checkout.path, interactive: shared.command !== 'hook' });
          if (!consent.allowed) {
            span.set('consent', 'refused');
            const { TRUST_COMMAND } = await import('../../core/consent.js');
            return settle({ ...base, reason: `not trusted (${TRUST_COMMAND})`, critical, deferred }, `services: not started — ${consent.refused}; review and approve it with: ${TRUST_COMMAND}, then start it: git vtree up`, 'warn');
          }
          const { runtime } = detection;
          const project: ComposeProject = { dir: checkout.path, name: override.projectName, files: override.files, env: portEnv(ports) };
          const record: ServicesRecord = { ...base, state: 'starting', runtime: runtime.command, critical, deferred };
          span.set('critical', critical);
          span.set('deferred', deferred);
          shared.facts.services = { runtime: `${runtime.name} ${runtime.version}`, project: project.name, critical, deferred };
          shared.state.services = record;
          const started: Started = { record, project, detection };
          // `setup` run again while an earlier start job still works: one job per stack.
          await stopStartJob(await readServicesStatus(checkout.gitDir));
          const start: StartContext = { shared, span, profiler, signal, repo, target, checkout, runtime, project, record, timeoutMs: (await import('./stack.js')).waitTimeoutMs(config) };
          let upNow: Awaited<ReturnType<typeof startCriticalNow>> = { state: 'running' };
          if (shared.options.wait) {
            await writeServicesStatus(checkout.gitDir, { ...record, pid: process.pid });
            const invalid = await composeRejects(start);
            if (invalid) return settle({ ...record, state: 'failed', reason: invalid }, `services: not started — ${invalid}`, 'warn');
            try {
              upNow = await startCriticalNow(start);
            } catch (error) {
              if (shared.options.rollbackOnFailure || signal.aborted) {
                await undoStart(started);
                throw error;
              }
              // The files and dependencies are fine: keep the worktree and the stack as it is, to look
              // at and retry; the command reports the failure once the worktree is set up.
              const { errorMessage } = await import('../../core/errors.js');
              const failed = await settle({ ...record, state: 'failed', reason: errorMessage(error) }, `services: ${critical.join(', ')} did not come up — ${errorMessage(error)}`, 'warn');
              // `add --wait` fails on this (a file Compose rejects only warns), yet keeps the worktree.
              shared.facts.services = { ...(shared.facts.services as object), notUp: true };
              // Should a later step fail, the run is rolled back after all, the stack with it.
              return { ...started, record: failed.record };
            }
          }
          const phases = [
            { name: 'critical' as const, services: shared.options.wait ? [] : critical },
            { name: 'deferred' as const, services: deferred.filter((name) => !later.includes(name)) },
          ].filter((p) => p.services.length > 0);
          if (later.length > 0) shared.log(`services: ${later.join(', ')} not started (vtree.services.start = critical); start them with: git vtree up`);
          if (phases.length === 0) {
            const final = { ...record, state: upNow.state };
            await writeServicesStatus(checkout.gitDir, { ...final, ...(upNow.services ? { services: upNow.services } : {}) });
            shared.state.services = final;
            return { ...started, record: final };
          }
          await startJob(start, phases, upNow.services, later);
          return started;
        },
        async undo(_ctx, result) {
          await undoStart(result as Started);
        },
      },
      {
        // A ready point for the project's own tasks (`after = services-ready`): it resolves at once
        // with a waiter, so that only the tasks that need the stack wait for it, not `add`.
        name: SERVICES_READY,
        deps: [stages.repo, stages.checkout, 'services-start'],
        async run(_ctx, deps): Promise<ServicesReady> {
          const { config } = deps[stages.repo] as RepoStage;
          const checkout = deps[stages.checkout] as CheckoutStage;
          const { waitForCritical, waitTimeoutMs } = await import('./stack.js');
          return { wait: async (signal) => void (await waitForCritical(checkout.gitDir, waitTimeoutMs(config), signal)) };
        },
      },
    ];
    return tasks;
  },
  teardownTasks: ({ cleared }) => [
    {
      name: 'services-down',
      deps: [cleared],
      // The project's teardown tasks (a database dump, say) need the stack still up.
      after: ['tasks-teardown'],
      async run({ shared, span, signal }, deps): Promise<StackDown | undefined> {
        const target = deps[cleared] as RemoveTarget;
        const record = target.state?.services as ServicesRecord | undefined;
        const { readServicesStatus } = await import('./status.js');
        const status = await readServicesStatus(target.gitDir);
        const project = status?.project ?? record?.project;
        if (!project) {
          span.set('skipped', 'no stack recorded');
          return;
        }
        // Set up without a compose file and never started since: no stack of this worktree can exist.
        const known = status ?? record;
        if (known?.state === 'none' && known.files?.length === 0) {
          span.set('skipped', 'no compose file');
          return;
        }
        // The Compose modules load only when there is a stack to stop: most worktrees have none on the engine.
        const [{ dockerSocket }, { projectOnEngine }] = await Promise.all([import('../../core/docker-socket.js'), import('./engine-socket.js')]);
        const starting = status?.state === 'starting';
        if (starting) await (await import('./stack.js')).stopStartJob(status);
        const runtime = status?.runtime ?? record?.runtime;
        const configured = target.config.string('vtree.compose.command');
        // Never started (no engine then, none now): nothing to stop, nothing to warn about.
        const started = status?.state !== undefined && !['none', 'stopped'].includes(status.state);
        // Docker's own socket first: it answers "nothing there" in a few ms, where the CLI takes a process per question.
        // Not right after a start job: containers it was creating may not exist yet, so only Compose down is sure.
        const socket = !starting && configured === undefined && (await import('./runtime.js')).engineOf(runtime?.join(' ')) === 'docker' ? dockerSocket() : undefined;
        const onEngine = socket ? await projectOnEngine(socket, project, shared.volumes) : undefined;
        if (onEngine === false || (onEngine === 'no engine' && !started)) {
          span.set('skipped', onEngine === false ? 'nothing of the stack on the engine' : 'no container engine runs');
          return;
        }
        const [{ detectComposeRuntime, recordedProject }, { stackLeftovers, stopServices, stopTimeoutSeconds }, { projectContainers, socketContainers }] = await Promise.all([
          import('./runtime.js'),
          import('./stack.js'),
          import('./teardown.js'),
        ]);
        const timeoutSeconds = stopTimeoutSeconds(target.config);
        span.set('project', project);
        span.set('volumes', shared.volumes);
        // `rm` need not wait for containers to stop: their ids go to a job that stops them after it returns.
        const handOff = (engine: StackDown['engine'], containers: string[]): StackDown => {
          span.set('background', containers.length);
          shared.facts.services = { down: project, volumes: shared.volumes, background: true };
          return { engine, project, containers, volumes: shared.volumes, ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}), leaseHolder: `${target.path} (removing ${shared.runId})` };
        };
        // The socket has seen the stack: its containers' ids from there too, no CLI and no Compose detection on rm's path.
        const viaSocket = onEngine === true && socket ? await socketContainers(socket, project) : undefined;
        if (viaSocket) return handOff('docker', viaSocket);
        const detection = await detectComposeRuntime(configured ?? runtime?.join(' '));
        if (!('runtime' in detection)) {
          if (started) shared.warn(`services: could not stop stack ${project}: ${detection.missing}`);
          span.set('skipped', detection.missing);
          return;
        }
        if (onEngine !== true && !(await stackLeftovers(detection.runtime.engine, project, shared.volumes, signal))) {
          span.set('skipped', 'nothing of the stack on the engine');
          return;
        }
        // Not right after a start job: containers it was creating may not exist yet, so only Compose down is sure.
        if (!starting) return handOff(detection.runtime.engine, await projectContainers(detection.runtime.engine, project));
        const stack = await recordedProject(target.path, project, status?.files ?? record?.files ?? [], target.state?.ports as Record<string, number> | undefined);
        await stopServices(detection.runtime, stack, { volumes: shared.volumes, signal, ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}) });
        shared.facts.services = { down: project, volumes: shared.volumes };
        return undefined;
      },
    } satisfies Task<RemoveShared>,
  ],
};

/** What the two ways of starting a stack share. */
interface StartContext {
  shared: SetupShared;
  span: TaskContext<SetupShared>['span'];
  profiler: TaskContext<SetupShared>['profiler'];
  signal: AbortSignal;
  repo: RepoStage['repo'];
  target: TargetStage;
  checkout: CheckoutStage;
  runtime: ComposeRuntime;
  project: ComposeProject;
  record: ServicesRecord;
  timeoutMs: number;
}

/** Compose's complaint about the files, in one line, or undefined when it accepts them. */
async function composeRejects({ runtime, project, signal }: StartContext): Promise<string | undefined> {
  const [{ runCompose }, { errorMessage }] = await Promise.all([import('./runtime.js'), import('../../core/errors.js')]);
  return runCompose(runtime, project, ['config', '--quiet'], { signal }).then(
    () => undefined,
    (error: unknown) => errorMessage(error).replace(/^\S+ \S+ failed: /, ''),
  );
}

/** `--wait`: starts the critical services in the foreground and waits until they are up. */
async function startCriticalNow(start: StartContext): Promise<{ state: StackState; services?: Record<string, string> }> {
  const { shared, span, profiler, signal, runtime, project, record, checkout, timeoutMs } = start;
  const critical = record.critical ?? [];
  const { servicesMap, serviceStatuses, stackState, startServices, writeServicesStatus } = await import('./stack.js');
  await profiler.time('services-critical', span.id, () => startServices(runtime, project, critical, { wait: true, timeoutMs, signal }));
  const statuses = await serviceStatuses(runtime, project, signal);
  const services = servicesMap(statuses);
  await writeServicesStatus(checkout.gitDir, { ...record, services });
  shared.log(`services: ${critical.join(', ')} up`);
  return { state: stackState(statuses, critical), services };
}

/** Why this run starts no stack whatever its files say (`--no-services`, or `vtree.services.start = none` without `--services`); undefined when it may. */
async function notStarting(shared: SetupShared, config: Config): Promise<string | undefined> {
  if (!shared.options.services) return 'not started (--no-services)';
  const { servicesStartMode } = await import('./stack.js');
  return !shared.options.servicesScope && servicesStartMode(config) === 'none' ? 'not started (vtree.services.start = none)' : undefined;
}

/** Hands the remaining phases to the detached `services-up` job; `add` does not wait for it. */
async function startJob(start: StartContext, phases: ServicesJobPlan['phases'], services: Record<string, string> | undefined, later: readonly string[]): Promise<void> {
  const { shared, span, repo, target, checkout, runtime, project, record, timeoutMs } = start;
  const [{ spawnBackgroundJob }, { backgroundLogPath }, { writeServicesStatus }, { composeArgv }] = await Promise.all([
    import('../../core/background.js'),
    import('../../core/paths.js'),
    import('./stack.js'),
    import('./runtime.js'),
  ]);
  record.log = backgroundLogPath(repo.commonDir, 'services-up', shared.runId);
  // The critical services' `up -d` runs before the job, not after Node.js has loaded it (nor
  // while it loads): a seeded database's first query waits on it.
  const critical = phases[0]?.name === 'critical' ? phases[0] : undefined;
  const compose = critical && composeArgv(runtime, project, ['up', '-d', ...critical.services]);
  const plan: ServicesJobPlan = {
    commonDir: repo.commonDir,
    gitDir: checkout.gitDir,
    linkedTo: shared.runId,
    branch: target.branch,
    slug: target.slug,
    log: record.log,
    runtime,
    project,
    phases,
    // What this run starts: services left for `git vtree up` are not waited for.
    expected: [...(record.critical ?? []), ...(record.deferred ?? [])].filter((name) => !later.includes(name)),
    record,
    timeoutMs,
  };
  record.expected = plan.expected;
  // The status file says `starting` before the job exists, so the job's own writes come after.
  const status = { ...record, ...(services ? { services } : {}) };
  await writeServicesStatus(checkout.gitDir, status);
  const { pid } = await spawnBackgroundJob({ job: 'services-up', id: shared.runId, commonDir: repo.commonDir, args: [JSON.stringify(plan)], cwd: checkout.path, ...(compose ? { first: compose } : {}) });
  // Its group at once, Compose's `up` in it: `rm`, `down` or another set-up ends the start under
  // way. The job writes its own status only after that `up` and its Node.js start, so after this.
  if (pid !== undefined) await writeServicesStatus(checkout.gitDir, { ...status, pid });
  span.set('log', record.log);
  shared.log(`services: starting ${phases.map((p) => `${p.name} ${p.services.join(', ')}`).join(', then ')} in the background (git vtree status)`);
}

/** Rolls a start back: the job stops, the stack goes down; volumes stay (they may predate this run). */
async function undoStart(started: Started): Promise<void> {
  if (!started.project || !started.detection || !('runtime' in started.detection)) return;
  const { readServicesStatus, stopServices, stopStartJob } = await import('./stack.js');
  const { worktreeGitDir } = await import('../../git/worktree-state.js');
  await stopStartJob(await readServicesStatus(await worktreeGitDir(started.project.dir)));
  await stopServices(started.detection.runtime, started.project, { volumes: false, timeoutSeconds: 2 });
}
