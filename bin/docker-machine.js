#!/usr/bin/env node
// `docker-machine`: the same program; run.js tells the name from this file's path.
import './run.js'
