"""Choosing and running scripts: the role of Nmap's ``nse_main.lua``.

``loader`` finds and checks scripts; ``selection`` and ``scriptargs`` parse ``--script`` and
``--script-args``; ``session`` turns command-line options into a runner and a scope;
``jobs`` decides which (script, phase, port, runlevel) a host gets; ``runner`` runs them with
NSE's limits, timeouts and error rules; ``thread`` is the script-thread context, the one engine
module the script library (:mod:`nmapx.nse`) sees; ``scope`` is what probes may contact;
``plan`` answers ``nmapx plan`` from the same jobs. The package imports nothing on purpose, so
that the library can import ``thread`` without loading the engine.
"""
