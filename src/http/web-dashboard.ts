import fs from 'node:fs';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { App } from './types.ts';

/** Where `npm run web:build` writes the dashboard. */
export const WEB_DIST_DIR = path.resolve(import.meta.dirname, '..', '..', 'web', 'dist');

/**
 * The dashboard's own page URLs, which a reload or a bookmark sends to the server. Only
 * these answer index.html; every other unknown path keeps the API's 404 problem document.
 */
const PAGE_PATH =
  /^\/(login|register|forgot-password|reset-password|move|transfer|transactions|security|admin|desk|statements|standing-orders|approvals|limits|payments|reconciliation)(\/[a-z-]+)?\/?$/;

/**
 * Serves the built web dashboard at `/`, when there is one: the API starts without a web
 * build (tests, API-only deployments). Built assets have content hashes in their names, so
 * they may be cached for good; index.html is revalidated every time, so a new build is
 * picked up at the next load. The dashboard's page URLs (PAGE_PATH) answer index.html, so
 * they survive a reload.
 */
export async function registerWebDashboard(app: App, distDir = WEB_DIST_DIR): Promise<boolean> {
  if (!fs.existsSync(path.join(distDir, 'index.html'))) return false;
  await app.register(fastifyStatic, {
    root: distDir,
    prefix: '/',
    wildcard: false,
    index: ['index.html'],
    dotfiles: 'deny',
    serveDotFiles: false,
    etag: true,
    lastModified: true,
    cacheControl: false,
    setHeaders: (reply, filePath) => {
      reply.header(
        'cache-control',
        filePath.includes(`${path.sep}assets${path.sep}`)
          ? 'public, max-age=31536000, immutable'
          : 'no-cache',
      );
    },
  });
  app.get('/*', { schema: { hide: true } }, async (request, reply) => {
    const pathname = request.url.split('?')[0] ?? '/';
    if (!PAGE_PATH.test(pathname)) return reply.callNotFound();
    reply.header('cache-control', 'no-cache');
    return reply.sendFile('index.html');
  });
  return true;
}
