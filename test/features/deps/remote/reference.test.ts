import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseChallenge } from '../../../../src/features/deps/remote/client.js';
import { dockerCredentials } from '../../../../src/features/deps/remote/credentials.js';
import { isLoopback, parseRemoteRef } from '../../../../src/features/deps/remote/reference.js';
import { tempDir } from '../../../helpers.js';

describe('vtree.cache.remote', () => {
  it('splits registry and repository; HTTPS except on loopback', () => {
    expect(parseRemoteRef('ghcr.io/team/app-deps')).toEqual({ registry: 'ghcr.io', repository: 'team/app-deps', base: 'https://ghcr.io' });
    expect(parseRemoteRef('127.0.0.1:5000/deps')).toEqual({ registry: '127.0.0.1:5000', repository: 'deps', base: 'http://127.0.0.1:5000' });
    expect(parseRemoteRef('localhost:5000/a/b/').base).toBe('http://localhost:5000');
    expect(parseRemoteRef('[::1]:5000/deps').base).toBe('http://[::1]:5000');
    // A name that merely starts like a loopback address is a remote host.
    expect(parseRemoteRef('127.0.0.1.example.com/deps').base).toBe('https://127.0.0.1.example.com');
    expect(parseRemoteRef('localhost.evil.io/deps').base).toBe('https://localhost.evil.io');
    expect(isLoopback('127.1.2.3:80')).toBe(true);
  });

  it('refuses what is not <registry>/<repository>', () => {
    expect(() => parseRemoteRef('app-deps')).toThrow(/names no registry/);
    expect(() => parseRemoteRef('ghcr.io/Team/Deps')).toThrow(/not a repository name/);
    expect(() => parseRemoteRef('ghcr.io/')).toThrow(/not a repository name/);
    expect(() => parseRemoteRef('user@ghcr.io/deps')).toThrow(/names no registry/);
  });
});

describe('WWW-Authenticate challenges', () => {
  it('reads the scheme and its parameters, quoted or not', () => {
    expect(parseChallenge('Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull"')).toEqual([
      'bearer',
      { realm: 'https://ghcr.io/token', service: 'ghcr.io', scope: 'repository:a/b:pull' },
    ]);
    expect(parseChallenge('Basic realm=registry')).toEqual(['basic', { realm: 'registry' }]);
    expect(parseChallenge('')).toEqual([undefined, {}]);
  });
});

describe("Docker's credentials", () => {
  it('a credHelpers entry wins over auths and credsStore; no config file is anonymous', async () => {
    const dir = await tempDir('vtree-docker-');
    const bin = await tempDir('vtree-docker-bin-');
    for (const [name, user] of [['special', 'from-helper'], ['store', 'from-store']]) {
      await writeFile(join(bin, `docker-credential-${name}`), `#!/bin/sh\nread host\nprintf '{"ServerURL":"%s","Username":"${user}","Secret":"s3cret"}' "$host"\n`);
      await chmod(join(bin, `docker-credential-${name}`), 0o755);
    }
    const env = { ...process.env, DOCKER_CONFIG: dir, PATH: `${bin}:${process.env.PATH}` };
    expect(await dockerCredentials('ghcr.io', env)).toBeUndefined();
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({
        auths: { 'https://index.docker.io/v1/': { auth: Buffer.from('hub:pw').toString('base64') }, 'ghcr.io': { auth: Buffer.from('inline:pw').toString('base64') } },
        credHelpers: { 'ghcr.io': 'special' },
        credsStore: 'store',
      }),
    );
    expect(await dockerCredentials('ghcr.io', env)).toEqual({ username: 'from-helper', password: 's3cret', from: 'docker-credential-special' });
    expect(await dockerCredentials('index.docker.io', env)).toEqual({ username: 'hub', password: 'pw', from: join(dir, 'config.json') });
    expect(await dockerCredentials('quay.io', env)).toEqual({ username: 'from-store', password: 's3cret', from: 'docker-credential-store' });
  });

  it('a helper that is not installed is one line naming it', async () => {
    const dir = await tempDir('vtree-docker-');
    await writeFile(join(dir, 'config.json'), JSON.stringify({ credsStore: 'vtree-absent' }));
    await expect(dockerCredentials('ghcr.io', { ...process.env, DOCKER_CONFIG: dir })).rejects.toThrow(/docker-credential-vtree-absent could not give the credentials of ghcr.io/);
  });
});
