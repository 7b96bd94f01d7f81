#!/bin/sh
# Regenerate the Sparkplug B protobuf module (sparkplug_b_pb2.py and its typed stub .pyi)
# from the Eclipse Tahu sparkplug_b.proto kept beside it. Needs the dev extras
# (grpcio-tools for protoc, mypy-protobuf for the stub): `make sparkplug-codec`.
set -eu
cd "$(dirname "$0")/.."
DIR=src/shopfloor/connectors/sparkplug
PYTHON=${PYTHON:-.venv/bin/python}
BIN=$(dirname "$PYTHON")
"$PYTHON" -m grpc_tools.protoc \
  --proto_path="$DIR" \
  --plugin=protoc-gen-mypy="$BIN/protoc-gen-mypy" \
  --python_out="$DIR" \
  --mypy_out="$DIR" \
  "$DIR/sparkplug_b.proto"
# the generated code derives from the proto: it keeps the proto's license notice
for f in "$DIR/sparkplug_b_pb2.py" "$DIR/sparkplug_b_pb2.pyi"; do
  { echo "# Generated from sparkplug_b.proto (Eclipse Tahu): do not edit, run make sparkplug-codec."
    echo "# Copyright (c) 2015, 2018 Cirrus Link Solutions and others"
    echo "# Made available under the terms of the Eclipse Public License 2.0"
    echo "# (http://www.eclipse.org/legal/epl-2.0). SPDX-License-Identifier: EPL-2.0"
    cat "$f"; } > "$f.tmp"
  mv "$f.tmp" "$f"
done
echo "generated $DIR/sparkplug_b_pb2.py and $DIR/sparkplug_b_pb2.pyi"
