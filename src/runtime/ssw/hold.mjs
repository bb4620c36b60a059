// Preloaded with `--import` into a warm-spare application process: Node and the loaders are
// up, the application's main module is not loaded yet. Top-level await here holds the main
// module until the supervisor writes a line to our stdin (or closes it).
await new Promise((resolve) => {
  process.stdin.once('data', resolve);
  process.stdin.once('end', resolve);
});
process.stdin.pause();
process.stdin.unref?.();
