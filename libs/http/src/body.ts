import { isAscii } from 'node:buffer';
import { CtpError } from '@ctp/ctp-core';
import { parseShellMangledJson } from './shell_mangled_json';
import type { Next, Step, StepRequest, StepResponse } from './step';

export const MAX_BODY_BYTES = 16 * 1024;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export interface JsonBodyOptions {
  limit?: number;
  /** Dev mode only: accept the shell-mangled body the guide's /introspect example sends. */
  acceptShellMangledJson?: boolean;
}

export const DEV_NOTICE_HEADER = 'CTP-Dev-Notice';

/**
 * Reads a JSON request body with hard bounds: application/json (UTF-8) only, at most
 * `limit` bytes (checked on Content-Length and while streaming), strict UTF-8, no
 * prototype-shaped keys anywhere. Each failure is a 4xx problem naming the rule.
 */
export function jsonBody(options: JsonBodyOptions = {}): Step {
  const limit = options.limit ?? MAX_BODY_BYTES;
  return (req, res, next) => {
    const type = req.headers['content-type'] ?? '';
    if (type !== 'application/json') {
      const [mediaType, ...params] = type.split(';').map((s) => s.trim().toLowerCase());
      const charset = params.find((p) => p.startsWith('charset='))?.slice(8);
      if (mediaType !== 'application/json' || (charset !== undefined && charset !== 'utf-8')) {
        return next(new CtpError('unsupported_media_type', `Content-Type must be application/json (UTF-8), got ${JSON.stringify(type.slice(0, 100))}`));
      }
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      res.setHeader('Connection', 'close');
      return next(new CtpError('body_too_large', `body is ${declared} bytes; the limit is ${limit}`));
    }
    readBody(req, limit).then((body) => {
      if (body === undefined) {
        res.setHeader('Connection', 'close');
        return next(new CtpError('body_too_large', `body exceeds the limit of ${limit} bytes`));
      }
      decodeInto(req, res, body, next);
    }, next);
  };

  function decodeInto(req: StepRequest, res: StepResponse, body: Buffer, next: Next): void {
    let text: string;
    try {
      // Most bodies are ASCII (JSON escapes the rest): checked and copied natively, no decoder state.
      text = isAscii(body) ? body.toString('latin1') : UTF8.decode(body);
    } catch {
      return next(new CtpError('invalid_encoding', 'body contains bytes that are not valid UTF-8'));
    }
    try {
      req.body = parseJson(text);
    } catch (strictError) {
      if (strictError instanceof CtpError) return next(strictError);
      if (!options.acceptShellMangledJson) return next(invalidJson(strictError));
      try {
        req.body = parseShellMangledJson(text);
        res.setHeader(DEV_NOTICE_HEADER, 'body was not JSON; read as shell-unquoted JSON (dev mode only; quote your JSON)');
      } catch {
        return next(invalidJson(strictError));
      }
    }
    next();
  }
}

/** Strict UTF-8 (a decode without `stream` keeps no state between calls, so one decoder serves every request). */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The request body, or undefined once it exceeds `limit` bytes (reading stops there). Events
 * rather than an async iterator: one small body usually arrives as one chunk.
 */
function readBody(req: StepRequest, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        return resolve(undefined);
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onClose = () => {
      cleanup();
      reject(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

function invalidJson(error: unknown): CtpError {
  const reason = error instanceof Error ? error.message : 'unparseable';
  return new CtpError('invalid_json', `body is not valid JSON: ${reason}. In a shell, wrap the JSON in single quotes or use a heredoc.`);
}

function parseJson(text: string): unknown {
  if (!text.includes('__proto__') && !text.includes('constructor') && !text.includes('prototype')) return JSON.parse(text);
  return JSON.parse(text, function reviver(key, value) {
    if (FORBIDDEN_KEYS.has(key)) {
      throw new CtpError('validation_failed', `key ${JSON.stringify(key)} is not allowed`, {
        errors: [{ field: key, rule: 'forbidden_key', message: 'prototype-shaped keys are refused' }],
      });
    }
    return value;
  });
}
