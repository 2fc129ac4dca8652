// The functions' registration data (names, triggers, HTTP routes), apart from their handlers: the Functions entry
// (index.ts) registers from it without loading any handler, and the function table (registry.ts) and each HTTP
// handler module spread the same entries, so the two cannot disagree.
import contract from '../../infra/guard-contract.json' with { type: 'json' };

export type HttpMethod = 'GET' | 'POST' | 'PUT';

export interface HttpRoute {
  name: string;
  route: string;
  methods: HttpMethod[];
  authLevel: 'anonymous' | 'function';
}

export const HTTP_ROUTES: Record<'projectsApi' | 'dashboard' | 'health' | 'onAtlasAlert', HttpRoute> = {
  projectsApi: {
    name: contract.functions.http,
    route: 'projects/{id?}/{action?}',
    methods: ['GET', 'POST', 'PUT'],
    authLevel: 'function',
  },
  dashboard: { name: 'dashboard', route: 'dashboard', methods: ['GET'], authLevel: 'function' },
  health: { name: 'health', route: 'health', methods: ['GET'], authLevel: 'anonymous' },
  onAtlasAlert: { name: 'onAtlasAlert', route: 'atlas/alerts', methods: ['POST'], authLevel: 'function' },
};

/** The non-HTTP triggers: names from the contract (the Bicep deployment reads it too). */
export const TRIGGERS = {
  eventGrid: { name: contract.functions.eventGrid },
  timer: {
    name: contract.functions.timer,
    // `%...%` resolves the app setting, so the schedule is configuration, not code (default 0 */5 * * * *).
    schedule: '%EAR_GUARD_SWEEP_SCHEDULE%',
  },
  queue: { name: contract.functions.queue, queueName: contract.reconcileQueueName, connection: 'AzureWebJobsStorage' },
} as const;
