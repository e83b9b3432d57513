/**
 * The error for a problem the user can fix on their side: a bad flag, an unreadable file, a server
 * that cannot be reached. main.ts prints its message (never a stack) and exits with its code.
 * It must never be used for answers from the server; those are ApiError.
 */

/** Exit code for a usage problem (bad flag or argument, invalid settings), as opposed to a failed operation. */
export const USAGE_EXIT_CODE = 2;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = 1,
    /** A second line telling the user what to do next. */
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A user mistake in the command line itself. */
export function usageError(message: string, hint?: string): CliError {
  return new CliError(message, USAGE_EXIT_CODE, hint);
}
