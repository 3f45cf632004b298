/**
 * `gapmap users add|list` and `gapmap tokens add`: the first user of a server that is not bound to
 * 127.0.0.1 (where the dashboard has no local lead), and API tokens for scripts.
 */
import type { Command } from 'commander';
import { withDb } from './context.ts';
import { GapmapError } from './errors.ts';
import { ROLES, type Role } from '../db/schema/auth.ts';
import { createApiToken, createUser, listUsers } from '../dashboard/auth.ts';

function role(value: string): Role {
  if (!(ROLES as readonly string[]).includes(value)) {
    throw new GapmapError('bad_input', `--role "${value}": expected one of ${ROLES.join(', ')}`);
  }
  return value as Role;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

export function registerUserCommands(program: Command) {
  const usersCmd = program.command('users').description('people who sign in to the dashboard');
  usersCmd
    .command('add')
    .description('add a user (viewer < researcher < lead)')
    .requiredOption('--email <address>', 'sign-in e-mail')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`, role)
    .option('--name <name>', 'display name')
    .option('--password-stdin', 'read the password from standard input (keeps it out of shell history)')
    .action(async (flags: { email: string; role: Role; name?: string; passwordStdin?: boolean }) => {
      const password = flags.passwordStdin ? await readStdin() : undefined;
      await withDb(async (handle) => {
        const user = await createUser(handle.db, {
          email: flags.email,
          name: flags.name,
          role: flags.role,
          password,
        });
        process.stdout.write(
          `added ${user.email} as ${user.role}${password ? '' : ' (no password: set one on the People page, or sign in with a token)'}\n`,
        );
      });
    });
  usersCmd
    .command('list')
    .option('--json', 'JSON array')
    .action(async (flags: { json?: boolean }) => {
      await withDb(async (handle) => {
        const rows = await listUsers(handle.db);
        if (flags.json)
          process.stdout.write(
            JSON.stringify(rows.map((u) => ({ email: u.email, name: u.name, role: u.role }))) + '\n',
          );
        else for (const u of rows) process.stdout.write(`${u.email}  ${u.role}  ${u.name}\n`);
      });
    });

  program
    .command('tokens')
    .description('API tokens for the JSON API')
    .command('add')
    .requiredOption('--email <address>', 'the user the token acts as')
    .requiredOption('--name <name>', 'what the token is for')
    .action(async (flags: { email: string; name: string }) => {
      await withDb(async (handle) => {
        const user = (await listUsers(handle.db)).find((u) => u.email === flags.email.trim().toLowerCase());
        if (!user) throw new GapmapError('not_found', `no user ${flags.email} (gapmap users add first)`);
        const { token } = await createApiToken(handle.db, { userId: user.id, name: flags.name });
        process.stdout.write(`${token}\n`);
        process.stderr.write('Keep it safe: it is shown once. Use it as "Authorization: Bearer <token>".\n');
      });
    });
}
