import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../../../src/core/exec.js';
import { dockerSocket } from '../../../src/core/docker-socket.js';
import { projectOnEngine } from '../../../src/features/services/engine-socket.js';
import { requirePrereq, tempDir } from '../../helpers.js';

// The engine's own socket, against the real Docker engine: what `rm` asks before it starts the
// docker CLI at all.

const project = `vtree-socket-${randomBytes(4).toString('hex')}`;
const made: string[][] = [];
afterAll(async () => {
  for (const args of made.reverse()) await run('docker', args, { okCodes: [0, 1] }).catch(() => undefined);
});

describe('the Docker engine socket', () => {
  it('says whether containers, networks or volumes of a Compose project are on the engine', async (ctx) => {
    await requirePrereq('docker', ctx);
    const socket = dockerSocket({})!;
    expect(socket).toBe('/var/run/docker.sock');
    expect(await projectOnEngine(socket, project, true)).toBe(false);
    const label = `com.docker.compose.project=${project}`;
    await run('docker', ['volume', 'create', '--label', label, `${project}_data`]);
    made.push(['volume', 'rm', `${project}_data`]);
    // A volume counts only when `rm` would remove volumes (`--volumes`).
    expect(await projectOnEngine(socket, project, false)).toBe(false);
    expect(await projectOnEngine(socket, project, true)).toBe(true);
    await run('docker', ['create', '--label', label, '--name', `${project}-c`, 'vtree-test/busybox:latest', 'true']);
    made.push(['rm', '-f', `${project}-c`]);
    expect(await projectOnEngine(socket, project, false)).toBe(true);
    // Another project's containers are not this one's.
    expect(await projectOnEngine(socket, `${project}-other`, false)).toBe(false);
  });

  it('knows there is no engine when the socket does not exist or nothing listens on it, and leaves an engine it cannot ask to the CLI', async () => {
    const dir = await tempDir('vtree-socket-');
    const server = createServer((_req, res) => res.writeHead(500).end('{"message":"engine trouble"}'));
    try {
      expect(await projectOnEngine(join(dir, 'docker.sock'), project, false)).toBe('no engine');
      // What a stopped engine leaves behind: the socket's file, with nobody listening.
      await writeFile(join(dir, 'stale.sock'), '');
      expect(await projectOnEngine(join(dir, 'stale.sock'), project, false)).toBe('no engine');
      // An engine that answers, but not with a list: the CLI is asked instead, and explains.
      await new Promise<void>((resolve) => server.listen(join(dir, 'answering.sock'), resolve));
      expect(await projectOnEngine(join(dir, 'answering.sock'), project, false)).toBeUndefined();
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
