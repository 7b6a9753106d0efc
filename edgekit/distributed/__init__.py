"""Training beyond one machine: ``edgekit train --engine dask`` on a dask.distributed cluster."""
