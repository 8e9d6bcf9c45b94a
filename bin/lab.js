#!/usr/bin/env node
// The bundled CLI lives in dist/ (built by `npm run build`).
import "../dist/lab.js";
