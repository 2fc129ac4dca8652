// Structured logs: one JSON object per line with the fields a security team filters on
// (level, message, project, invocationId, eventId, correlationId) plus the active trace/span IDs, so a line
// can be joined to its trace in Application Insights. Every record goes through redact.ts's one redaction
// step right before it is written; nothing reaches a sink unredacted.
import { trace } from '@opentelemetry/api';
import { redactRecord, redactText } from './redact.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** The well-known fields; anything else is carried as is (after redaction). */
export interface LogFields {
  project?: string;
  invocationId?: string;
  eventId?: string;
  correlationId?: string;
  trigger?: string;
  outcome?: string;
  err?: unknown;
  [key: string]: unknown;
}

export interface LogRecord extends LogFields {
  time: string;
  level: LogLevel;
  message: string;
  traceId?: string;
  spanId?: string;
}

/** Where lines go. `level` lets a sink route to the right channel (e.g. context.warn / context.error). */
export type LogSink = (line: string, level: LogLevel) => void;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (e.g. `{ project, eventId }` for one reconcile). */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  /** Default: one line to stdout (stderr for warn/error). */
  sink?: LogSink;
  /** Minimum level; default from EAR_GUARD_LOG_LEVEL, else 'info'. */
  level?: LogLevel;
  /** Fields on every line. */
  base?: LogFields;
  /** Clock (tests). */
  now?: () => Date;
}

export function parseLogLevel(value: string | undefined, fallback: LogLevel = 'info'): LogLevel {
  const v = (value ?? '').trim().toLowerCase();
  return v in LEVELS ? (v as LogLevel) : fallback;
}

const stdSink: LogSink = (line, level) => {
  (level === 'warn' || level === 'error' ? process.stderr : process.stdout).write(line + '\n');
};

/** Serializes one record: the redaction step, then JSON. Never throws (a bad field must not lose the line). */
export function formatLogRecord(record: LogRecord): string {
  try {
    return JSON.stringify(redactRecord(record));
  } catch {
    return JSON.stringify({ time: record.time, level: record.level, message: redactText(String(record.message)) });
  }
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const sink = opts.sink ?? stdSink;
  const min = LEVELS[opts.level ?? parseLogLevel(process.env.EAR_GUARD_LOG_LEVEL)];
  const now = opts.now ?? (() => new Date());
  const base = opts.base ?? {};

  const write = (level: LogLevel, message: string, fields?: LogFields) => {
    if (LEVELS[level] < min) return;
    const ctx = trace.getActiveSpan()?.spanContext();
    const time = now().toISOString();
    const record: LogRecord = { time, level, message, ...base, ...fields };
    // The core fields cannot be overridden by a field of the same name; they lead the line.
    Object.assign(record, { time, level, message });
    if (ctx && ctx.traceId !== '00000000000000000000000000000000') {
      record.traceId = ctx.traceId;
      record.spanId = ctx.spanId;
    }
    // Drop undefined fields so lines stay short and uniform.
    for (const k of Object.keys(record)) if (record[k] === undefined) delete record[k];
    sink(formatLogRecord(record), level);
  };

  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger({ ...opts, level: opts.level, base: { ...base, ...fields } }),
  };
}

/** The subset of @azure/functions' InvocationContext the logger needs. */
export interface InvocationContextLike {
  invocationId: string;
  functionName?: string;
  log(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug?(...args: unknown[]): void;
}

/**
 * A logger for one Functions invocation: lines go through the invocation context (so the host attributes
 * them to the invocation and routes them to Application Insights) and carry its invocationId.
 */
export function loggerForInvocation(
  ctx: InvocationContextLike,
  base: LogFields = {},
  opts: Omit<LoggerOptions, 'sink' | 'base'> = {},
): Logger {
  return createLogger({
    ...opts,
    base: { invocationId: ctx.invocationId, function: ctx.functionName, ...base },
    sink: (line, level) => {
      if (level === 'error') ctx.error(line);
      else if (level === 'warn') ctx.warn(line);
      else if (level === 'debug' && ctx.debug) ctx.debug(line);
      else ctx.log(line);
    },
  });
}
