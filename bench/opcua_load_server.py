"""An OPC UA server with many fast-changing scalar nodes, for the subscription benchmark.

Run: ``python -m bench.opcua_load_server --port P --nodes 400 --rate-hz 20``; prints
``READY <url>`` when it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

import numpy as np
from asyncua import Server, ua


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--nodes", type=int, default=400)
    parser.add_argument("--rate-hz", type=float, default=20.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    server = Server()
    await server.init()
    url = f"opc.tcp://127.0.0.1:{args.port}"
    server.set_endpoint(url)
    ns = await server.register_namespace("urn:shopfloor:bench")
    folder = await server.nodes.objects.add_folder(ns, "Load")
    nodes = [
        await folder.add_variable(ua.NodeId(f"Load.V{i:04d}", ns), f"V{i:04d}", 0.0)
        for i in range(args.nodes)
    ]
    async with server:
        print(f"READY {url}", flush=True)
        rng = np.random.default_rng(0)
        period = 1.0 / args.rate_hz
        loop = asyncio.get_running_loop()
        next_t = loop.time()
        while True:
            values = rng.normal(size=len(nodes))
            for node, value in zip(nodes, values, strict=True):
                await server.write_attribute_value(
                    node.nodeid, ua.DataValue(ua.Variant(float(value), ua.VariantType.Double))
                )
            next_t += period
            await asyncio.sleep(max(0.0, next_t - loop.time()))


if __name__ == "__main__":
    asyncio.run(main())
