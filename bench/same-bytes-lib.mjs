#!/usr/bin/env node
// Helper of bench/same-bytes.sh: the sha256 of an image built by DIST's library from TREE, not
// reproducibly (host atimes and ctimes kept), with the clock, UUID and hash seed pinned so that
// two builds of the same code give the same bytes.
//   node bench/same-bytes-lib.mjs DIST TREE TYPE BLOCKSIZE
import { createHash } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [dist, tree, type, bs] = process.argv.slice(2);
Date.now = () => 1_700_000_000_000;
const lib = await import(pathToFileURL(path.resolve(dist, 'index.js')).href);
const t = new lib.Tree();
lib.addHostDirectory(t, tree);
const { bytes } = lib.buildToBuffer(t, { type, blockSize: Number(bs), uuid: '8a3a1c5e-0e8f-4d2b-9a57-3c1f9e2b7d10', hashSeed: '1b4e28ba-2fa1-11d2-883f-0016d3cca427' });
console.log(createHash('sha256').update(bytes).digest('hex').slice(0, 16));
