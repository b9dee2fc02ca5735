// Validates every manifest under a directory against its schema, offline:
// core kinds with `kubernetes-models`, Knative (Serving, Eventing sources),
// the Prometheus Operator's PodMonitor, and Gateway API kinds with
// `@kubernetes-models/knative`, `@kubernetes-models/prometheus-operator` and
// `/gateway-api` (JSON schemas generated from the projects' CRDs, checked
// with ajv). A kind without a model is an error, not a skip.
//
//   node validate-manifests.mjs DIR
//
// kustomization.yaml is kustomize's own file, not a resource.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node validate-manifests.mjs DIR");
  process.exit(2);
}

/** The module that models `apiVersion`/`kind`: Gateway API and Knative
 * groups by name, everything else from the core models. */
function modelPath(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (group === "gateway.networking.k8s.io") return `@kubernetes-models/gateway-api/${group}/${version}/${kind}`;
  if (group.endsWith("knative.dev")) return `@kubernetes-models/knative/${group}/${version}/${kind}`;
  if (group === "monitoring.coreos.com") return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  return `kubernetes-models/${group ? `${group}/` : ""}${version}/${kind}`;
}

let checked = 0;
let failed = 0;
for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml").sort()) {
  const docs = parseAllDocuments(readFileSync(join(dir, file), "utf8"));
  for (const doc of docs) {
    if (doc.errors.length) {
      console.error(`${file}: YAML error: ${doc.errors[0].message}`);
      failed++;
      continue;
    }
    const manifest = doc.toJS();
    if (!manifest) continue;
    const what = `${file}: ${manifest.apiVersion} ${manifest.kind} ${manifest.metadata?.namespace ?? "-"}/${manifest.metadata?.name}`;
    try {
      const module = await import(modelPath(manifest.apiVersion, manifest.kind));
      const Model = module[manifest.kind] ?? module.default;
      new Model(manifest).validate();
      console.log(`ok      ${what}`);
    } catch (error) {
      console.error(`INVALID ${what}\n  ${String(error.message ?? error).split("\n").join("\n  ")}`);
      failed++;
    }
    checked++;
  }
}
console.log(`${checked} manifests checked, ${failed} invalid`);
process.exit(failed || checked === 0 ? 1 : 0);
