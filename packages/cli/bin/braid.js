#!/usr/bin/env node
'use strict';
// Thin launcher: the real program is the bundle that `npm run build` (the `prepare` script) writes.
require('../dist/braid.js');
