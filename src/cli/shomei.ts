#!/usr/bin/env node
/**
 * `shomei`, the certificate issuance application: dispatches to one file per command
 * (src/cli/user/*.ts). Exit codes: 0 ok, 1 the user must act, 2 bad invocation, 3 bug.
 */
import type { Lang } from "../i18n/errors.js";
import { msg, type ClientMessageKey } from "../i18n/client_messages.js";
import { EXPIRING_DAYS } from "../client/listing.js";
import { runMain, splitCommandLine, unknownCommand } from "./common.js";
import { enrollCommand } from "./user/enroll.js";
import { listCommand } from "./user/list.js";
import { loginCheckCommand } from "./user/login_check.js";
import { pruneCommand } from "./user/prune.js";
import { rootCommand } from "./user/root.js";
import { renewCommand } from "./user/renew.js";
import { exportCommand, importCommand } from "./user/backup.js";
import { shomeiVersion } from "./user/version.js";
import { doctorCommand } from "./user/doctor.js";

type Command = (args: readonly string[], lang: Lang) => Promise<number>;

const COMMANDS: Readonly<Record<string, { run: Command; usage: ClientMessageKey }>> = {
  enroll: { run: enrollCommand, usage: "usage.enroll" },
  list: { run: listCommand, usage: "usage.list" },
  "login-check": { run: loginCheckCommand, usage: "usage.loginCheck" },
  prune: { run: pruneCommand, usage: "usage.prune" },
  root: { run: rootCommand, usage: "usage.root" },
  renew: { run: renewCommand, usage: "usage.renew" },
  export: { run: exportCommand, usage: "usage.export" },
  import: { run: importCommand, usage: "usage.import" },
  doctor: { run: doctorCommand, usage: "usage.doctor" },
};

function usageOf(lang: Lang, name: string | undefined): string {
  const cmd = name === undefined || !Object.hasOwn(COMMANDS, name) ? undefined : COMMANDS[name];
  if (name !== undefined && !cmd) throw unknownCommand(name, msg(lang, "cli.unknownCommand", { command: name }), lang);
  return msg(lang, cmd ? cmd.usage : "usage.main", { version: shomeiVersion(), expiringDays: EXPIRING_DAYS });
}

/** `shomei [--lang ja|en] [--help] <command> [options]`; --version anywhere. */
async function main(argv: string[], lang: Lang): Promise<number> {
  const line = splitCommandLine(argv);
  const first = line.command;
  if (line.version || first === "version") {
    process.stdout.write(`shomei ${shomeiVersion()}\n`);
    return 0;
  }
  if (line.help) {
    process.stdout.write(usageOf(lang, first));
    return 0;
  }
  if (first === "help") {
    process.stdout.write(usageOf(lang, splitCommandLine(line.rest).command));
    return 0;
  }
  if (first === undefined) {
    process.stderr.write(usageOf(lang, undefined));
    return 2;
  }
  const cmd = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
  if (!cmd) throw unknownCommand(first, msg(lang, "cli.unknownCommand", { command: first }), lang);
  return cmd.run([...(line.lang ? ["--lang", line.lang] : []), ...line.rest], lang);
}

await runMain(main);
