import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { askDocker, dockerSocket, engineRequest, getJson } from '../../src/core/docker-socket.js';
import { tempDir } from '../helpers.js';

describe('the Docker engine socket', () => {
  it('follows DOCKER_HOST and the current context, or leaves the choice to the CLI', async () => {
    const config = await tempDir('vtree-docker-config-');
    try {
      expect(dockerSocket({ DOCKER_HOST: 'unix:///run/user/1000/docker.sock' })).toBe('/run/user/1000/docker.sock');
      expect(dockerSocket({ DOCKER_HOST: 'tcp://10.0.0.5:2376' })).toBeUndefined();
      expect(dockerSocket({ DOCKER_HOST: 'ssh://me@host' })).toBeUndefined();
      expect(dockerSocket({ DOCKER_CONTEXT: 'remote', DOCKER_CONFIG: config })).toBeUndefined();
      expect(dockerSocket({ DOCKER_CONFIG: config })).toBe('/var/run/docker.sock');
      await mkdir(config, { recursive: true });
      await writeFile(join(config, 'config.json'), JSON.stringify({ currentContext: 'colima' }));
      expect(dockerSocket({ DOCKER_CONFIG: config })).toBeUndefined();
      await writeFile(join(config, 'config.json'), JSON.stringify({ currentContext: 'default', auths: {} }));
      expect(dockerSocket({ DOCKER_CONFIG: config })).toBe('/var/run/docker.sock');
    } finally {
      await rm(config, { recursive: true, force: true });
    }
  });

  it('sends a JSON body and gives back the status and text; a GET must answer 200 with JSON', async () => {
    const dir = await tempDir('vtree-socket-');
    const seen: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${req.headers['content-type'] ?? '-'} ${body}`);
        if (req.url === '/missing') return res.writeHead(404).end('{"message":"no such thing"}');
        res.writeHead(req.method === 'POST' ? 201 : 200).end(req.method === 'POST' ? body : '{"Id":"sha256:1"}');
      });
    });
    const socket = join(dir, 'engine.sock');
    try {
      await new Promise<void>((resolve) => server.listen(socket, resolve));
      expect(await engineRequest(socket, 'POST', '/volumes/create', { Name: 'v' })).toEqual({ status: 201, body: '{"Name":"v"}' });
      expect(await getJson(socket, '/images/x/json')).toEqual({ Id: 'sha256:1' });
      await expect(getJson(socket, '/missing')).rejects.toThrow(/404/);
      expect(seen).toEqual(['POST /volumes/create application/json {"Name":"v"}', 'GET /images/x/json - ', 'GET /missing - ']);
      await expect(engineRequest(join(dir, 'none.sock'), 'GET', '/_ping')).rejects.toThrow(/ENOENT/);
      // The engine the CLI would use, asked over its socket; nothing to say where the CLI must decide or nobody answers.
      expect(await askDocker('GET', '/images/x/json', undefined, { DOCKER_HOST: `unix://${socket}` })).toEqual({ status: 200, body: '{"Id":"sha256:1"}' });
      expect(await askDocker('GET', '/_ping', undefined, { DOCKER_HOST: 'tcp://10.0.0.5:2376' })).toBeUndefined();
      expect(await askDocker('GET', '/_ping', undefined, { DOCKER_HOST: `unix://${join(dir, 'none.sock')}` })).toBeUndefined();
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
