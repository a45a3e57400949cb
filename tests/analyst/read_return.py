"""Reads one period of a Tally return as a DHSC analyst would, and fails loudly if any
tool cannot: the SDMX structure and SDMX-CSV with sdmx1 (into pandas), the CSV with its
CSVW metadata with csvw, the Parquet with pyarrow and the JSON with the standard library.

    python read_return.py FOLDER NAME

FOLDER holds NAME.structure.xml, NAME.sdmx.csv, NAME.csv, NAME.csv-metadata.json,
NAME.parquet and NAME.json. Prints one JSON line of what was read, for the Rust test to
check against the data it served.
"""

import json
import pathlib
import sys

import csvw
import pandas as pd
import pyarrow.parquet as pq
import sdmx


def main(folder: pathlib.Path, name: str) -> None:
    said = {}

    # SDMX: the structure, then the data read with it, then pandas.
    structure = sdmx.read_sdmx(folder / f"{name}.structure.xml")
    (flow,) = structure.dataflow.values()
    dsd = flow.structure
    said["dimensions"] = [d.id for d in dsd.dimensions.components]
    said["attributes"] = [a.id for a in dsd.attributes.components]
    data = sdmx.read_sdmx(folder / f"{name}.sdmx.csv", structure=flow)
    observations = sum(len(ds.obs) for ds in data.data)
    said["observations"] = observations
    frame = sdmx.to_pandas(data, attributes="o")
    if isinstance(frame, list):
        frame = pd.concat(frame)
    said["pandas_rows"] = int(len(frame))
    said["time_periods"] = sorted(
        {str(t) for t in frame.index.get_level_values("TIME_PERIOD")}
    )
    said["obs_status"] = sorted({str(s) for s in frame["OBS_STATUS"]})
    said["conf_status"] = sorted({str(s) for s in frame["CONF_STATUS"]})

    # CSV on the Web: the metadata names the CSV; every row is read with its datatypes.
    table = csvw.Table.from_file(folder / f"{name}.csv-metadata.json")
    rows = list(table.iterdicts(strict=True))
    said["csvw_rows"] = len(rows)
    said["csvw_columns"] = [c.name for c in table.tableSchema.columns]
    said["csvw_title"] = str(table.common_props.get("dc:title"))
    said["csvw_description"] = str(table.common_props.get("dc:description"))
    with_csv = pd.read_csv(folder / f"{name}.csv")
    said["csv_columns"] = list(with_csv.columns)

    # Parquet: the manifest in the file's key-value metadata and on the table read.
    file_meta = pq.read_metadata(folder / f"{name}.parquet").metadata
    manifest = json.loads(file_meta[b"tally.manifest"])
    said["parquet_manifest_version"] = manifest["version"]
    table_meta = pq.read_table(folder / f"{name}.parquet").schema.metadata
    said["parquet_table_manifest"] = json.loads(table_meta[b"tally.manifest"]) == manifest
    said["parquet_rows"] = pq.read_table(folder / f"{name}.parquet").num_rows

    # JSON: the rows with every column, empty cells null.
    wrapped = json.loads((folder / f"{name}.json").read_text())
    said["json_rows"] = len(wrapped["rows"])
    said["json_every_column"] = all(
        set(r) == {c["name"] for c in wrapped["columns"]} for r in wrapped["rows"]
    )
    said["json_nulls"] = sum(v is None for r in wrapped["rows"] for v in r.values())

    print(json.dumps(said))


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]), sys.argv[2])
