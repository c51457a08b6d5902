import type { NextFunction, Request, Response } from 'express';
import express from 'express';
import { isAppError, ValidationError } from '../../../core/errors.ts';

/** The body of the options requests the passkey script makes: its CSRF token, and a new passkey's name. */
export const jsonBody = express.json({ limit: '2kb' });

/**
 * Answers an options request: `{options}`, or `{error: {code, message, fields?}}` with the error's status,
 * which the script shows beside the button, and at the fields named in `fields` (a name refused). Unknown
 * errors go on to the gateway's error handler.
 */
export function answerOptions(work: (req: Request, res: Response) => Promise<unknown>) {
  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      const options = await work(req, res);
      res.set('Cache-Control', 'no-store').json({ options });
    } catch (error) {
      if (!isAppError(error)) return next(error);
      res
        .status(error.status)
        .set('Cache-Control', 'no-store')
        .json({ error: { code: error.code, message: error.message, ...fieldsOf(error) } });
    }
  };
}

const fieldsOf = (error: Error) =>
  error instanceof ValidationError && Object.keys(error.fields).length > 0 ? { fields: error.fields } : {};
