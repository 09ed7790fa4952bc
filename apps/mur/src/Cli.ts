/** What every command handler gets: the home folder, the global flags, and the output. */
import { Context } from "effect"
import type { MurHome } from "./MurHome.js"
import type { Output } from "./Output.js"

export class Cli extends Context.Tag("mur/Cli")<
  Cli,
  {
    readonly home: MurHome
    readonly json: boolean
    /** The global `--team SLUG`, when given. */
    readonly team: string | undefined
    readonly out: Output
  }
>() {}
