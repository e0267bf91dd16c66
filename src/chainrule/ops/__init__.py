"""Every primitive, once: forward, VJP and JVP side by side (see ``_primitive``)."""
