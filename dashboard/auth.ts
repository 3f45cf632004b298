/**
 * Who is asking, and may they. Three roles, each including the ones below it:
 * viewer (reads) < researcher (uploads) < lead (reviews, manages people).
 * The JSON API takes `Authorization: Bearer <token>`; pages take the `gapmap_session` cookie.
 *
 * Local mode: a server bound to a loopback address with no users in the database treats every
 * request as the local lead "local", so `gapmap demo` then `gapmap serve` opens straight onto the
 * map. Two guards keep other sites out of it: the Host header must name a loopback host (no DNS
 * rebinding) and requests that change anything must come from the same origin (no CSRF). The
 * first user created ends local mode.
 */
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { apiTokens, sessions, users, ROLES, type Role } from '../db/schema/index.ts';
import { GapmapError } from '../app/errors.ts';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number) => Promise<Buffer>;

export const SESSION_COOKIE = 'gapmap_session';
export const SESSION_DAYS = 14;

export interface Actor {
  userId: number | null;
  name: string;
  email: string | null;
  role: Role;
  via: 'session' | 'token' | 'local';
}

export const LOCAL_ACTOR: Actor = { userId: null, name: 'local', email: null, role: 'lead', via: 'local' };

export function roleAtLeast(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

export function isRole(v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const secret = (prefix: string) => `${prefix}_${randomBytes(24).toString('base64url')}`;

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32);
  return `scrypt$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  const [scheme, salt, hash] = (stored ?? '').split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const got = await scrypt(password, Buffer.from(salt, 'base64'), expected.length);
  return timingSafeEqual(expected, got);
}

export const MIN_PASSWORD = 8;

/** Adds a person. The lead wires this into `gapmap users add`; the dashboard's People page calls it too. */
export async function createUser(
  db: Db,
  p: { email: string; name?: string; role: Role; password?: string },
): Promise<{ id: number; email: string; name: string; role: Role }> {
  const email = p.email.trim().toLowerCase();
  if (!/^[^\s@]+@[^\s@]+$/.test(email))
    throw new GapmapError('bad_input', `email "${p.email}": expected an address like ana@example.com`);
  if (!isRole(p.role))
    throw new GapmapError('bad_input', `role "${String(p.role)}": expected one of ${ROLES.join(', ')}`);
  if (p.password !== undefined && p.password.length < MIN_PASSWORD)
    throw new GapmapError('bad_input', `password: expected at least ${MIN_PASSWORD} characters`);
  const [exists] = await db.select({ id: users.id }).from(users).where(eq(users.email, email));
  if (exists) throw new GapmapError('conflict', `a user with email ${email} already exists`);
  const [row] = await db
    .insert(users)
    .values({
      email,
      name: p.name?.trim() || email.split('@')[0]!,
      role: p.role,
      passwordHash: p.password ? await hashPassword(p.password) : null,
    })
    .returning();
  return { id: row!.id, email: row!.email, name: row!.name, role: row!.role };
}

export async function listUsers(db: Db) {
  return db
    .select({
      id: users.id,
      email: users.email,
      name: users.name,
      role: users.role,
      createdAt: users.createdAt,
    })
    .from(users)
    .orderBy(users.id);
}

export async function setUserRole(db: Db, userId: number, role: Role) {
  if (!isRole(role))
    throw new GapmapError('bad_input', `role "${String(role)}": expected one of ${ROLES.join(', ')}`);
  const res = await db.update(users).set({ role }).where(eq(users.id, userId)).returning({ id: users.id });
  if (res.length === 0) throw new GapmapError('not_found', `no user ${userId}`);
}

export async function countUsers(db: Db): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(users);
  return row!.n;
}

/** A new API token for a user: the secret is returned once and only its hash is kept. */
export async function createApiToken(
  db: Db,
  p: { userId: number; name: string },
): Promise<{ id: number; token: string }> {
  const [user] = await db.select({ id: users.id }).from(users).where(eq(users.id, p.userId));
  if (!user)
    throw new GapmapError(
      'not_found',
      `user_id: no person with id ${p.userId}: pick one listed on the People page`,
    );
  const token = secret('gm');
  const [row] = await db
    .insert(apiTokens)
    .values({ userId: p.userId, name: p.name.trim() || 'token', secretHash: sha256(token) })
    .returning({ id: apiTokens.id });
  return { id: row!.id, token };
}

export async function listApiTokens(db: Db) {
  return db
    .select({
      id: apiTokens.id,
      name: apiTokens.name,
      userEmail: users.email,
      createdAt: apiTokens.createdAt,
      lastUsedAt: apiTokens.lastUsedAt,
      revokedAt: apiTokens.revokedAt,
    })
    .from(apiTokens)
    .innerJoin(users, eq(users.id, apiTokens.userId))
    .orderBy(apiTokens.id);
}

export async function revokeApiToken(db: Db, id: number) {
  await db.update(apiTokens).set({ revokedAt: new Date() }).where(eq(apiTokens.id, id));
}

export async function actorForToken(db: Db, token: string): Promise<Actor | null> {
  const [row] = await db
    .select({ id: apiTokens.id, userId: users.id, name: users.name, email: users.email, role: users.role })
    .from(apiTokens)
    .innerJoin(users, eq(users.id, apiTokens.userId))
    .where(and(eq(apiTokens.secretHash, sha256(token)), isNull(apiTokens.revokedAt)));
  if (!row) return null;
  await db.update(apiTokens).set({ lastUsedAt: new Date() }).where(eq(apiTokens.id, row.id));
  return { userId: row.userId, name: row.name, email: row.email, role: row.role, via: 'token' };
}

export async function signIn(
  db: Db,
  email: string,
  password: string,
): Promise<{ cookie: string; user: Actor } | null> {
  const [u] = await db.select().from(users).where(eq(users.email, email.trim().toLowerCase()));
  if (!u || !(await verifyPassword(password, u.passwordHash))) return null;
  return {
    cookie: await createSession(db, u.id),
    user: { userId: u.id, name: u.name, email: u.email, role: u.role, via: 'session' },
  };
}

export async function createSession(db: Db, userId: number): Promise<string> {
  const cookie = secret('gs');
  await db.insert(sessions).values({
    userId,
    secretHash: sha256(cookie),
    expiresAt: new Date(Date.now() + SESSION_DAYS * 24 * 3600_000),
  });
  return cookie;
}

export async function actorForSession(db: Db, cookie: string): Promise<Actor | null> {
  const [row] = await db
    .select({ userId: users.id, name: users.name, email: users.email, role: users.role })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(and(eq(sessions.secretHash, sha256(cookie)), gt(sessions.expiresAt, new Date())));
  return row ? { ...row, via: 'session' } : null;
}

export async function endSession(db: Db, cookie: string) {
  await db.delete(sessions).where(eq(sessions.secretHash, sha256(cookie)));
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function isLoopback(host: string | undefined): boolean {
  if (!host) return false;
  return LOOPBACK_HOSTS.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The Host header's host name without its port. */
export function hostName(hostHeader: string | undefined): string {
  if (!hostHeader) return '';
  if (hostHeader.startsWith('[')) return hostHeader.slice(0, hostHeader.indexOf(']') + 1);
  return hostHeader.split(':')[0] ?? '';
}
