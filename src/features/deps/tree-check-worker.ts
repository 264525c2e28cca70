// The worker thread of changedFilesOffThread (tree-check.ts): one check, one answer.
import { parentPort, workerData } from 'node:worker_threads';
import { changedFilesNow, type TreeCheck } from './tree-check.js';

parentPort!.postMessage(changedFilesNow(workerData as TreeCheck) ?? null);
