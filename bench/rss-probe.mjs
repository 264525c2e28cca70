// Preloaded (NODE_OPTIONS=--import) into the processes of the benchmark's memory runs: when a
// process exits, it writes its own peak resident set size to $VTREE_BENCH_RSS_DIR/<pid>.json.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.VTREE_BENCH_RSS_DIR;
if (dir) {
  process.on('exit', () => {
    try {
      const record = { argv: process.argv.slice(1), maxRssKb: process.resourceUsage().maxRSS };
      writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify(record));
    } catch {
      // The directory is gone (the benchmark moved on): nothing to report to.
    }
  });
}
