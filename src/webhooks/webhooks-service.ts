import crypto from 'node:crypto';
import type { StaffStepUp } from '../admin/access.ts';
import { recordAudit } from '../audit/audit.ts';
import { hasRole, type Principal } from '../auth/roles.ts';
import type { Db, Engine } from '../db/database.ts';
import { decodeIdCursor, encodeIdCursor, readPage } from '../db/paging.ts';
import { CorebankError } from '../errors.ts';
import type { EventType } from '../events/outbox.ts';
import type { WebhookPolicy } from './dispatcher.ts';
import { encryptWebhookSecret } from './secrets.ts';
import { generateWebhookSecret } from './signing.ts';
import { assertPublicHost } from './ssrf.ts';
import {
  countEndpoints,
  deleteEndpoint,
  type EndpointRecord,
  findEndpoint,
  insertEndpoint,
  listAttempts,
  listEndpoints,
} from './webhooks-repository.ts';

export interface EndpointView {
  id: string;
  url: string;
  description: string | null;
  /** Empty: every event type. */
  eventTypes: EventType[];
  status: 'enabled' | 'disabled';
  disabledReason: string | null;
  createdAt: string;
}

export interface DeliveryView {
  eventId: string;
  attempt: number;
  status: 'succeeded' | 'failed';
  responseStatus: number | null;
  error: string | null;
  durationMs: number;
  at: string;
}

/** Endpoints are a bounded collection, like accounts per customer. */
export const MAX_ENDPOINTS = 50;

function toView(endpoint: EndpointRecord): EndpointView {
  return {
    id: endpoint.id,
    url: endpoint.url,
    description: endpoint.description,
    eventTypes: endpoint.eventTypes,
    status: endpoint.status,
    disabledReason: endpoint.disabledReason,
    createdAt: endpoint.createdAt,
  };
}

const CURSOR_PREFIX = 'w1:';

export class WebhooksService {
  readonly #db: Db;
  readonly #engine: Engine;
  readonly #secretKey: Buffer;
  readonly #policy: WebhookPolicy;

  readonly #stepUp: StaffStepUp;

  constructor(deps: {
    db: Db;
    engine: Engine;
    secretKey: Buffer;
    policy: WebhookPolicy;
    stepUp: StaffStepUp;
  }) {
    this.#stepUp = deps.stepUp;
    this.#db = deps.db;
    this.#engine = deps.engine;
    this.#secretKey = deps.secretKey;
    this.#policy = deps.policy;
  }

  /** Reading endpoints and their delivery log: admins and auditors; changing: admins. */
  authorize(principal: Principal, permission: 'read' | 'act'): void {
    const allowed =
      permission === 'act' ? hasRole(principal, 'admin') : hasRole(principal, 'admin', 'auditor');
    if (!allowed) throw new CorebankError('FORBIDDEN', 'this needs an administrator');
  }

  async create(
    principal: Principal,
    input: {
      url: string;
      eventTypes: EventType[];
      description: string | null;
      otp?: string | undefined;
    },
    ip: string | null,
  ): Promise<EndpointView & { secret: string }> {
    this.authorize(principal, 'act');
    await this.#stepUp(principal, 'webhook.endpoint_created', null, input.otp, ip);
    const url = await this.#checkUrl(input.url);
    if ((await countEndpoints(this.#db)) >= MAX_ENDPOINTS) {
      throw new CorebankError('CONFLICT', `at most ${MAX_ENDPOINTS} webhook endpoints`);
    }
    const id = crypto.randomUUID();
    const secret = generateWebhookSecret();
    const now = new Date().toISOString();
    const eventTypes = [...new Set(input.eventTypes)].sort();
    await insertEndpoint(this.#db, {
      id,
      url: url.toString(),
      description: input.description,
      eventTypes,
      secretCiphertext: encryptWebhookSecret(this.#secretKey, id, secret),
      createdBy: principal.userId,
      now,
    });
    await recordAudit(this.#db, this.#engine, {
      actorUserId: principal.userId,
      action: 'webhook.endpoint_created',
      target: `webhook_endpoint:${id}`,
      outcome: 'success',
      ip,
      details: { url: url.origin, eventTypes: eventTypes.join(',') },
    });
    const created = await findEndpoint(this.#db, id);
    if (created === null) throw new Error('webhook endpoint vanished after insert');
    // The secret is shown here once; the bank keeps it only encrypted.
    return { ...toView(created), secret };
  }

  /** http(s) only, no credentials in the URL, and (unless allow-listed) a public host. */
  async #checkUrl(raw: string): Promise<URL> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new CorebankError('VALIDATION_FAILED', 'url is not an absolute URL', 'url');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new CorebankError('VALIDATION_FAILED', 'url must be http or https', 'url');
    }
    if (url.username !== '' || url.password !== '') {
      throw new CorebankError('VALIDATION_FAILED', 'url must not carry credentials', 'url');
    }
    try {
      await assertPublicHost(url.hostname, this.#policy.allowList);
    } catch (error) {
      throw new CorebankError(
        'VALIDATION_FAILED',
        `url is refused: ${error instanceof Error ? error.message : String(error)}`,
        'url',
      );
    }
    return url;
  }

  async list(principal: Principal): Promise<{ data: EndpointView[]; nextCursor: null }> {
    this.authorize(principal, 'read');
    return { data: (await listEndpoints(this.#db)).map(toView), nextCursor: null };
  }

  async remove(principal: Principal, id: string, otp: string | undefined, ip: string | null) {
    this.authorize(principal, 'act');
    await this.#stepUp(principal, 'webhook.endpoint_deleted', `webhook:${id}`, otp, ip);
    if (!(await deleteEndpoint(this.#db, id, new Date().toISOString()))) {
      throw new CorebankError('NOT_FOUND', 'webhook endpoint not found');
    }
    await recordAudit(this.#db, this.#engine, {
      actorUserId: principal.userId,
      action: 'webhook.endpoint_deleted',
      target: `webhook_endpoint:${id}`,
      outcome: 'success',
      ip,
    });
  }

  async deliveries(
    principal: Principal,
    id: string,
    page: { limit: number; cursor?: string | undefined },
  ): Promise<{ data: DeliveryView[]; nextCursor: string | null }> {
    this.authorize(principal, 'read');
    if ((await findEndpoint(this.#db, id)) === null) {
      throw new CorebankError('NOT_FOUND', 'webhook endpoint not found');
    }
    const beforeId = decodeIdCursor(CURSOR_PREFIX, page.cursor);
    return readPage(
      page.limit,
      (limit) => listAttempts(this.#db, id, { limit, beforeId }),
      (last) => encodeIdCursor(CURSOR_PREFIX, last.id),
      ({ id: _id, ...view }) => view,
    );
  }
}
