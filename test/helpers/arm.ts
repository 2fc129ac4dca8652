// Reading the emulator's ARM documents in tests: a role assignment's properties (wire or flattened shape) and the
// GUID at the end of a role definition ID.
export type Rec = Record<string, unknown>;

/** An ARM resource's `properties`, or the object itself when it is already flat. */
export const props = (a: Rec): Rec => ((a.properties as Rec | undefined) ?? a) as Rec;

/** The last segment of an ID (a role definition's GUID), lower case. */
export const guidOf = (id: unknown): string => String(id).split('/').pop()!.toLowerCase();
