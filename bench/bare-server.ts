/**
 * The real ceiling the benchmark compares against (issue #17): a bare Fastify 5 server with
 * no plugins, no logger and no hooks, run by the same Node as Corebank in its own process.
 * `GET /health/live` answers `{"status":"ok"}` (Corebank's cheapest route, unadorned) and
 * `POST /bare` parses a JSON body and answers `{"status":"ok"}` (what a transfer request
 * costs the framework before any of our code runs). Listens on HOST:PORT.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/health/live', async () => ({ status: 'ok' }));
app.post('/bare', async () => ({ status: 'ok' }));
await app.listen({ host: process.env.HOST ?? '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.on('SIGTERM', () => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
