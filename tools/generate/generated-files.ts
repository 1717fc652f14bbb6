/**
 * Every file `npm run generate` writes, relative to the project root, with its renderer: whole
 * generated files, and hand-written files whose marked regions are generated (markers.ts). The
 * staleness test (generated-files.test.ts) checks each committed file equals its rendering.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as prettier from "prettier";
import { GENERATED_FILES as MONITORING_FILES } from "../dashboards/generated-files.js";
import { FILTER_CONFIG_SCHEMA } from "../deploy/filter-config-schema.js";
import { loadMetricCatalog, type MetricCatalog } from "./catalog.js";
import { COLD_TEXTS, renderAssemblyColdText } from "./cold-text.js";
import { configTable, renderAssemblyConfigKeys, type SchemaNode } from "./config-outputs.js";
import { replaceRegion, type CommentStyle } from "./markers.js";
import {
  docsAccessLogFieldTable,
  docsLabelTable,
  docsMetricTable,
  envoyStatsTags,
  labelGroupLines,
  meshConfigStatTags,
  podAnnotationStatTags,
  readmeMetricTable,
  renderAssemblyAccessLogFields,
  renderAssemblyFamilies,
  renderContractModule,
  statTagsCodeBlock,
  statTagsLine,
} from "./metric-outputs.js";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface Sources {
  catalog: MetricCatalog;
  schema: SchemaNode;
}

export interface GeneratedFile {
  path: string;
  /** The file's content from the sources and, for a file with generated regions, its current text. */
  render: (sources: Sources, current: string) => Promise<string> | string;
}

export function readSources(): Sources {
  return {
    catalog: loadMetricCatalog(),
    schema: JSON.parse(readFileSync(path.join(ROOT, FILTER_CONFIG_SCHEMA), "utf8")) as SchemaNode,
  };
}

/** TypeScript (and AssemblyScript) output in the project's Prettier style. */
async function formatted(file: string, text: string): Promise<string> {
  const filepath = path.join(ROOT, file);
  const options = (await prettier.resolveConfig(filepath)) ?? {};
  return prettier.format(text, { ...options, filepath });
}

type Region = [name: string, lines: (sources: Sources) => string[]];

/** A hand-written file whose regions are generated. */
function withRegions(file: string, style: CommentStyle, regions: Region[]): GeneratedFile {
  return {
    path: file,
    render: (sources, current) =>
      regions.reduce(
        (text, [name, lines]) => replaceRegion(text, file, name, style, lines(sources)),
        current,
      ),
  };
}

const statTagRegion: Region = ["extraStatTags", ({ catalog }) => statTagsCodeBlock(catalog)];
const configTableRegion: Region = ["configuration table", ({ schema }) => configTable(schema)];

export const GENERATED_FILES: readonly GeneratedFile[] = [
  ...MONITORING_FILES.map((file) => ({ path: file.path, render: file.render })),
  {
    path: "assembly/generated/metric-families.ts",
    render: ({ catalog }) =>
      formatted("assembly/generated/metric-families.ts", renderAssemblyFamilies(catalog)),
  },
  {
    path: "assembly/generated/access-log-fields.ts",
    render: ({ catalog }) =>
      formatted("assembly/generated/access-log-fields.ts", renderAssemblyAccessLogFields(catalog)),
  },
  {
    path: "assembly/generated/config-keys.ts",
    render: ({ schema }) => formatted("assembly/generated/config-keys.ts", renderAssemblyConfigKeys(schema)),
  },
  {
    path: "assembly/generated/cold-text.ts",
    render: () => formatted("assembly/generated/cold-text.ts", renderAssemblyColdText(COLD_TEXTS)),
  },
  {
    path: "tools/deploy/filter-contract.ts",
    render: ({ catalog }) => formatted("tools/deploy/filter-contract.ts", renderContractModule(catalog)),
  },
  withRegions("deploy/istio/mesh-config.yaml", "yaml", [
    ["extraStatTags", ({ catalog }) => meshConfigStatTags(catalog)],
  ]),
  withRegions("deploy/istio/pod-annotations.yaml", "yaml", [
    ["extraStatTags", ({ catalog }) => podAnnotationStatTags(catalog)],
  ]),
  ...["deploy/local/envoy-east.yaml", "deploy/local/envoy-west.yaml"].map((file) =>
    withRegions(file, "yaml", [["stats_tags", ({ catalog }) => envoyStatsTags(catalog)]]),
  ),
  withRegions("README.md", "markdown", [
    configTableRegion,
    ["label groups", ({ catalog }) => labelGroupLines(catalog)],
    ["metric table", ({ catalog }) => readmeMetricTable(catalog)],
    statTagRegion,
  ]),
  withRegions("docs/filter.md", "markdown", [
    configTableRegion,
    ["label groups", ({ catalog }) => labelGroupLines(catalog)],
    ["metric table", ({ catalog }) => docsMetricTable(catalog)],
    ["label table", ({ catalog }) => docsLabelTable(catalog)],
    ["access log field table", ({ catalog }) => docsAccessLogFieldTable(catalog)],
    ["extraStatTags line", ({ catalog }) => statTagsLine(catalog)],
  ]),
];
