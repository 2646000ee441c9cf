// Runs tests/drivers/mp_run.py under real MicroPython (the WebAssembly port, in node).
// drivers/*.py and tests/drivers/*.py are copied into MicroPython's in-memory filesystem;
// the exit status is 0 when every check passed, 1 when one failed, 2 when MicroPython raised.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const here = path.dirname(fileURLToPath(import.meta.url)); // tests/drivers/mp
const checksDir = path.dirname(here); // tests/drivers
const repoDir = path.resolve(checksDir, "..", "..");
const heapBytes = 2 * 1024 * 1024; // a generous microcontroller (ESP32 with PSRAM has more)

function copyPythonFiles(mp, fromDir, toDir) {
  mp.FS.mkdir(toDir);
  for (const name of fs.readdirSync(fromDir)) {
    if (name.endsWith(".py")) {
      mp.FS.writeFile(`${toDir}/${name}`, fs.readFileSync(path.join(fromDir, name)));
    }
  }
}

const mp = await loadMicroPython({
  heapsize: heapBytes,
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});
mp.FS.mkdir("/wellgate");
copyPythonFiles(mp, path.join(repoDir, "drivers"), "/wellgate/drivers");
copyPythonFiles(mp, checksDir, "/wellgate/checks");

try {
  mp.runPython(
    [
      "import sys",
      "sys.path.insert(0, '/wellgate/checks')",
      "sys.path.insert(0, '/wellgate')",
      "print(sys.implementation.name, sys.version)",
      "import mp_run",
      "_failed = mp_run.run_all()",
    ].join("\n"),
  );
} catch (error) {
  console.error(`MicroPython raised: ${error.message ?? error}`);
  process.exit(2);
}
process.exit(mp.globals.get("_failed") === 0 ? 0 : 1);
