#!/usr/bin/env node
// Launcher kept in git so npm can link the command before `prepare` has built dist/.
import "../dist/mur.mjs"
