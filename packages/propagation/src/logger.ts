/** What the library logs through. It logs nothing unless given one. */
export interface Logger {
  debug(message: string): void;
  warn(message: string): void;
}

export const SILENT_LOGGER: Logger = Object.freeze({
  debug: () => {},
  warn: () => {},
});
