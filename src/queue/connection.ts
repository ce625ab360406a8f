import { Redis } from 'ioredis'

/** Raised when no Redis server accepts a connection at REDIS_URL. */
export class QueueConnectionError extends Error {
  constructor(url: string, reason: string, cause?: unknown) {
    super(
      `Cannot connect to Redis at ${redactUrl(url)} (${reason}). ` +
        'Start Redis there or set REDIS_URL to a Redis that answers.',
      { cause },
    )
    this.name = 'QueueConnectionError'
  }
}

/** Returns the URL without its user name and password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    parsed.username = ''
    parsed.password = ''
    return parsed.toString()
  } catch {
    return '(invalid URL)'
  }
}

/**
 * Connects to Redis once, without retrying, so a command fails with a clear
 * message when Redis is down instead of waiting for it. The caller passes
 * the client to BullMQ and closes it with `quit()`.
 */
export async function connectRedis(url: string, timeoutMs = 5000): Promise<Redis> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
    // BullMQ requires null here for the connections it blocks on.
    maxRetriesPerRequest: null,
  })
  // connect() rejects with a bare "Connection is closed", so the socket's own error, which has
  // the reason, is kept from the error event. The listener also stops ioredis printing it.
  let socketError: NodeJS.ErrnoException | undefined
  client.on('error', (error: NodeJS.ErrnoException) => {
    socketError ??= error
  })
  try {
    await client.connect()
  } catch (error) {
    client.disconnect()
    const cause = socketError ?? (error as NodeJS.ErrnoException)
    const reason = cause.code === 'ECONNREFUSED' ? 'connection refused' : cause.message
    throw new QueueConnectionError(url, reason, cause)
  }
  return client
}
