"""The one shape of a study: what ``bench run``, ``bench check`` and the report need to know about it.

A study module subclasses :class:`Study`, fills in its class attributes (name, one-line description, the
quick preset's run time, its presets, its report and, when it has one, its regression gate) and its steps
(inputs, prepare, plan, run_task, finish), and registers one instance with
:func:`bench.studies.register_study`. Everything else — the command line, the results directory, the
worker processes, resumption, the manifest, the report — is shared and lives elsewhere:

- :meth:`Study.configure` turns a preset name and overrides into the study's frozen preset dataclass;
- :meth:`Study.inputs` says what the run reads besides its preset (a thickness series, a specimen image),
  cheaply, so that the results directory is checked before any expensive work; :meth:`Study.load` loads it;
- :meth:`Study.execute` runs the steps in the same order for every study: ``prepare`` (noise-free
  references, written to the store), ``plan`` (one :class:`bench.tasks.Task` per method and block),
  ``run_task`` in worker processes (a module-level function, so that it pickles), ``finish`` (examples,
  ``realisations``, ``summary``).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from _shared.results import ResultStore
from bench.studies.presets import configure_preset
from bench.tasks import Task, run_tasks
from reports.spec import ReportSpec


@dataclass(frozen=True)
class RunOptions:
    """How a run is executed; none of it changes the numbers.

    Attributes
    ----------
    scheduler : str or None
        Address of an existing dask.distributed scheduler; None runs local worker processes.
    workers : int or None
        Local worker processes (None: one per CPU core; 1 runs in the calling process).
    progress : bool
        Show progress bars.
    on_task_done : callable or None
        Called with each stored task key (tests stop a run part-way with it).
    """

    scheduler: str | None = None
    workers: int | None = None
    progress: bool = True
    on_task_done: Callable[[str], None] | None = None


@dataclass
class Inputs:
    """What a study reads besides its preset, and how it is recorded.

    Attributes
    ----------
    config : dict
        Entries added to the preset's configuration (they enter the configuration hash, so a results
        directory holds one input).
    provenance : dict
        Manifest entries describing the inputs (seeds, estimator, recipes and metadata).
    data : dict
        The inputs themselves, filled by :meth:`Study.load` (series, specimen image …).
    """

    config: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Gate:
    """A study's ``bench check`` criteria: a paired comparison of two methods in its realisations table.

    Attributes
    ----------
    compare : callable
        ``compare(realisations, candidate, baseline, *, tolerance) -> DataFrame`` with a boolean
        ``regressed`` column (:mod:`bench.gate`).
    what : str
        The metrics compared, for the help text.
    """

    compare: Callable[..., Any]
    what: str


class Study:
    """Base class of the studies (see the module docstring). Subclasses set the class attributes."""

    name: ClassVar[str]
    description: ClassVar[str]
    quick_run_time: ClassVar[str]
    presets: ClassVar[Mapping[str, Any]]
    default_preset: ClassVar[str] = "quick"
    order: ClassVar[int] = 100  # position in listings (the paper's order)
    report: ClassVar[ReportSpec]
    gate: ClassVar[Gate | None] = None
    # options of `bench run` that do not apply, with the reason the refusal gives
    refusals: ClassVar[Mapping[str, str]] = {}
    # summary columns printed at the end of `bench run` (None: all) and their float format
    printed_columns: ClassVar[Sequence[str] | None] = None
    float_format: ClassVar[str] = "{:.4g}"

    # Presets ---------------------------------------------------------------------------------------------
    @property
    def preset_type(self) -> type:
        """The study's frozen preset dataclass."""
        return type(self.presets[self.default_preset])

    def preset_fields(self) -> tuple[str, ...]:
        """Names of the preset's fields (what the command line may override)."""
        return tuple(f.name for f in fields(self.preset_type))

    def configure(self, preset: str | Any | None = None, **overrides: Any) -> Any:
        """A named (or given) preset with ``overrides`` applied (None values ignored), validated.

        Raises
        ------
        ValueError
            For an unknown preset name or invalid overrides.
        """
        return configure_preset(self.presets, preset or self.default_preset, overrides)

    def config(self, preset: Any, inputs: Inputs) -> dict[str, Any]:
        """The run's configuration: the preset's, plus what the inputs add."""
        return {**preset.to_config(), **inputs.config}

    def seeds(self, preset: Any) -> dict[str, Any]:
        """Seeds recorded in the manifest."""
        return {"noise": preset.seed, "bootstrap": preset.seed}

    def describe(self, preset: Any) -> str:
        """One line on what a run of ``preset`` covers (printed by ``bench run``)."""
        raise NotImplementedError

    # Methods that learn from the data --------------------------------------------------------------------
    def training_offers(self, preset: Any) -> dict[str, str]:
        """What the study gives methods that learn from data, beyond the images they restore: 'same_field'
        (independent noisy frames of one field) and/or 'high_dose' (high-dose noisy frames of other fields or
        thicknesses), each with one sentence saying what it is. Default: nothing."""
        return {}

    def check_methods(self, preset: Any, methods: Sequence[Any]) -> None:
        """Refuse, before any work, a method that needs data the study does not offer.

        Raises
        ------
        ValueError
            Naming the method, what it needs and which methods fit.
        """
        offered = self.training_offers(preset)
        for method in methods:
            missing = [need for need in getattr(method, "needs", ()) if need not in offered]
            if missing:
                what = {"same_field": "two or more independent noisy frames of the same field",
                        "high_dose": "high-dose noisy frames of other fields or thicknesses"}[missing[0]]
                raise ValueError(f"method {method.name} needs {what}, which the {self.name} study"
                                 f"{' with these settings' if self.presets else ''} does not have; leave it out "
                                 "(n2v2 and structn2v train on the images themselves)")

    # Inputs ----------------------------------------------------------------------------------------------
    def inputs(self, preset: Any) -> Inputs:
        """What the run reads besides its preset, cheaply (no simulation): configuration and provenance.

        Raises
        ------
        ValueError
            When the preset asks for something the inputs cannot give.
        """
        return Inputs()

    def load(self, preset: Any, inputs: Inputs, options: RunOptions) -> Inputs:
        """Load (or simulate) the inputs into ``inputs.data``; may add provenance. Default: nothing to load."""
        return inputs

    # Steps -----------------------------------------------------------------------------------------------
    def prepare(self, preset: Any, inputs: Inputs, store: ResultStore, options: RunOptions) -> dict:
        """Noise-free references shared by every task (written to ``store`` as needed); read-only afterwards."""
        raise NotImplementedError

    def plan(self, preset: Any, methods: Sequence[Any], shared: dict) -> list[Task]:
        """One task per method and block of work."""
        raise NotImplementedError

    # a module-level function ``params -> (table, arrays or None)``, run in worker processes
    run_task: ClassVar[Callable[[dict], tuple[Any, dict | None]]]

    def finish(self, preset: Any, shared: dict, tasks: Sequence[Task], store: ResultStore) -> Any:
        """Gather examples, write ``realisations`` and ``summary``; return the summary table."""
        raise NotImplementedError

    def execute(self, preset: Any, inputs: Inputs, methods: Sequence[Any], store: ResultStore,
                options: RunOptions | None = None) -> Any:
        """Run (or resume) the study into ``store``: prepare, plan, run the tasks, finish.

        Returns
        -------
        pandas.DataFrame
            The summary table.
        """
        options = options or RunOptions()
        shared = self.prepare(preset, inputs, store, options)
        tasks = self.plan(preset, methods, shared)
        run_tasks(tasks, type(self).run_task, store, scheduler=options.scheduler, workers=options.workers,
                  progress=options.progress, description=self.name, on_task_done=options.on_task_done)
        return self.finish(preset, shared, tasks, store)
