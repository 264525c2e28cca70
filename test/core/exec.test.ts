import { describe, expect, it } from 'vitest';
import { CommandError } from '../../src/core/errors.js';
import { run } from '../../src/core/exec.js';

describe('run', () => {
  it('reports a child that exits without reading its input by its exit status, never an EPIPE crash', async () => {
    // 8 MB does not fit a pipe buffer: writing it to a child that has exited raises EPIPE.
    const input = 'x'.repeat(8 * 1024 * 1024);
    for (let i = 0; i < 5; i++) {
      const error = await run('sh', ['-c', 'exit 3'], { input }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CommandError);
      expect((error as CommandError).exitStatus).toBe(3);
    }
  });

  it('reports a child killed part way through reading its input', async () => {
    const controller = new AbortController();
    const running = run('sh', ['-c', 'sleep 5'], { input: 'y'.repeat(8 * 1024 * 1024), signal: controller.signal });
    controller.abort();
    await expect(running).rejects.toBeInstanceOf(CommandError);
  });
});
