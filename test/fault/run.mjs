#!/usr/bin/env node
// `npm run fault`: the fault-injection suite in full (see suite.mjs). Options: --failpoints
// all|none|<name,name...> (default all: a kill at every failpoint), --seed N,
// --signal-trials N (per signal), --bursts N, --burst-size N, --corrupt-rounds N, --disk-trials N, --edit-trials N.
// Exits 1 when any figure that must be zero is not, or an interrupted run was not recovered.
import { parseArgs } from 'node:util';
import { formatFigures, runFaultSuite } from './suite.mjs';

const { values } = parseArgs({
  options: {
    failpoints: { type: 'string', default: 'all' },
    seed: { type: 'string', default: String(Date.now() % 100000) },
    'signal-trials': { type: 'string', default: '30' },
    bursts: { type: 'string', default: '4' },
    'burst-size': { type: 'string', default: '20' },
    'corrupt-rounds': { type: 'string', default: '2' },
    'disk-trials': { type: 'string', default: '8' },
    'edit-trials': { type: 'string', default: '6' },
  },
});
const started = Date.now();
const figures = await runFaultSuite({
  failpoints: values.failpoints === 'all' ? 'all' : values.failpoints === 'none' ? [] : values.failpoints.split(','),
  seed: Number(values.seed),
  signalTrials: Number(values['signal-trials']),
  bursts: Number(values.bursts),
  burstSize: Number(values['burst-size']),
  corruptRounds: Number(values['corrupt-rounds']),
  diskTrials: Number(values['disk-trials']),
  editTrials: Number(values['edit-trials']),
});
process.stdout.write(`${formatFigures(figures)}\n  took ${Math.round((Date.now() - started) / 1000)} s\n`);
const failed = figures.readyWithoutSetUp + figures.failpointsNotReached.length + figures.notRecovered + figures.debrisLeft + figures.duplicatePorts + figures.writtenOutside + figures.treesDiffering + figures.editsSpreadSilently + figures.editsReachedOthers + figures.unhandledExceptions;
process.exit(failed === 0 ? 0 : 1);
