/**
 * cdktf captures and formats a stack trace for every token it makes (Intrinsic, Lazy,
 * references). Under ts-node, source-map-support formats each one, mapping every frame:
 * about ten times V8's own cost, and most of a large fleet's synth time. The constructs
 * of this package therefore make their tokens with V8's formatting (stack traces of the
 * compiled JavaScript: function names and .js positions) and put the installed formatter
 * back before they return, also when they throw. An error made in between and read later
 * is still formatted by the installed one: V8 formats a stack when it is first read.
 * docs/decisions/synth-stack-traces.md
 *
 *   const restore = useV8StackFormatting();
 *   try { … } finally { restore(); }
 */
export function useV8StackFormatting(): () => void {
  // (Node's types declare the hook as always set; unset is how V8's own formatting is chosen.)
  const hook = Error as { prepareStackTrace?: ErrorConstructor["prepareStackTrace"] };
  const installed = hook.prepareStackTrace;
  if (installed === undefined) return () => {};
  hook.prepareStackTrace = undefined;
  return () => {
    hook.prepareStackTrace = installed;
  };
}
