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
        """The study's frozen preset dataclass.

        Returns
        -------
        type
            The type of the default preset.
        """
        return type(self.presets[self.default_preset])

    def preset_fields(self) -> tuple[str, ...]:
        """Return the names of the preset's fields (what the command line may override).

        Returns
        -------
        tuple of str
            The field names, in declaration order.
        """
        return tuple(f.name for f in fields(self.preset_type))

    def configure(self, preset: str | Any | None = None, **overrides: Any) -> Any:
        """Return a named (or given) preset with ``overrides`` applied (None values ignored), validated.

        Parameters
        ----------
        preset : str or dataclass or None, optional
            A preset name of :attr:`presets`, a preset instance, or None for :attr:`default_preset`.
        **overrides
            Preset fields to replace.

        Returns
        -------
        dataclass
            The configured preset.

        Raises
        ------
        ValueError
            For an unknown preset name or invalid overrides.
        """
        return configure_preset(self.presets, preset or self.default_preset, overrides)

    def config(self, preset: Any, inputs: Inputs) -> dict[str, Any]:
        """Return the run's configuration: the preset's, plus what the inputs add.

        Parameters
        ----------
        preset : dataclass
            The study's preset (:meth:`configure`).
        inputs : Inputs
            The run's inputs (:meth:`inputs`).

        Returns
        -------
        dict
            The configuration the results directory is checked against (and hashed).
        """
        return {**preset.to_config(), **inputs.config}

    def seeds(self, preset: Any) -> dict[str, Any]:
        """Return the seeds recorded in the manifest.

        Parameters
        ----------
        preset : dataclass
            The study's preset (:meth:`configure`).

        Returns
        -------
        dict
            ``noise`` and ``bootstrap`` seeds (both the preset's ``seed`` by default).
        """
        return {"noise": preset.seed, "bootstrap": preset.seed}

    def describe(self, preset: Any) -> str:
        """Return one line on what a run of ``preset`` covers (printed by ``bench run``).

        Parameters
        ----------
        preset : dataclass
            The study's preset (:meth:`configure`).

        Returns
        -------
        str
            The description.

        Raises
        ------
        NotImplementedError
            In the base class.
        """
        raise NotImplementedError

    # Methods that learn from the data --------------------------------------------------------------------
    def training_offers(self, preset: Any) -> dict[str, str]:
        """Return what the study gives methods that learn from data, beyond the images they restore.

        Parameters
        ----------
        preset : dataclass
            The study's preset (:meth:`configure`).

        Returns
        -------
        dict
            'same_field' (independent noisy frames of one field) and/or 'high_dose' (high-dose noisy frames of
            other fields or thicknesses), each with one sentence saying what it is. Default: empty.
        """
        return {}

    def check_methods(self, preset: Any, methods: Sequence[Any]) -> None:
        """Refuse, before any work, a method that needs data the study does not offer.

        Parameters
        ----------
        preset : dataclass
            The study's preset (:meth:`configure`).
        methods : sequence of Method
            The methods to compare; their ``needs`` (if any) are checked.

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
        """Name what the run reads besides its preset, cheaply (no simulation): configuration and provenance.

        Parameters
        ----------
        preset : dataclass
            The study's preset (:meth:`configure`).

        Returns
        -------
        Inputs
            Configuration and provenance entries; ``data`` still empty. Default: nothing.

        Raises
        ------
        ValueError
            When the preset asks for something the inputs cannot give.
        """
        return Inputs()

    def load(self, preset: Any, inputs: Inputs, options: RunOptions) -> Inputs:
        """Load (or simulate) the inputs into ``inputs.data``; may add provenance. Default: nothing to load.

        Parameters
        ----------
        preset : dataclass
            The study's preset (:meth:`configure`).
        inputs : Inputs
            What :meth:`inputs` named.
        options : RunOptions
            How the run is executed (progress bars, scheduler).

        Returns
        -------
        Inputs
            ``inputs``, filled.
        """
        return inputs

    # Steps -----------------------------------------------------------------------------------------------
    def prepare(self, preset: Any, inputs: Inputs, store: ResultStore, options: RunOptions) -> dict:
        """Compute the noise-free references shared by every task (written to ``store`` as needed).

        Parameters
        ----------
        preset : dataclass
            The study's preset (:meth:`configure`).
        inputs : Inputs
            The loaded inputs.
        store : ResultStore
            The results directory.
        options : RunOptions
            How the run is executed.

        Returns
        -------
        dict
            The shared references, read-only afterwards.

        Raises
        ------
        NotImplementedError
            In the base class.
        """
        raise NotImplementedError

    def plan(self, preset: Any, methods: Sequence[Any], shared: dict) -> list[Task]:
        """Split the run into tasks: one per method and block of work.

        Parameters
        ----------
        preset : dataclass
            The study's preset (:meth:`configure`).
        methods : sequence of Method
            The methods compared.
        shared : dict
            What :meth:`prepare` returned.

        Returns
        -------
        list of Task
            The tasks, each run by :attr:`run_task`.

        Raises
        ------
        NotImplementedError
            In the base class.
        """
        raise NotImplementedError

    # a module-level function ``params -> (table, arrays or None)``, run in worker processes
    run_task: ClassVar[Callable[[dict], tuple[Any, dict | None]]]

    def finish(self, preset: Any, shared: dict, tasks: Sequence[Task], store: ResultStore) -> Any:
        """Gather examples, write ``realisations`` and ``summary``; return the summary table.

        Parameters
        ----------
        preset : dataclass
            The study's preset (:meth:`configure`).
        shared : dict
            What :meth:`prepare` returned.
        tasks : sequence of Task
            Every task of the run (all stored by now).
        store : ResultStore
            The results directory.

        Returns
        -------
        pandas.DataFrame
            The summary table.

        Raises
        ------
        NotImplementedError
            In the base class.
        """
        raise NotImplementedError

    def execute(self, preset: Any, inputs: Inputs, methods: Sequence[Any], store: ResultStore,
                options: RunOptions | None = None) -> Any:
        """Run (or resume) the study into ``store``: prepare, plan, run the tasks, finish.

        Parameters
        ----------
        preset : dataclass
            The study's preset (:meth:`configure`).
        inputs : Inputs
            The loaded inputs (:meth:`load`).
        methods : sequence of Method
            The methods compared.
        store : ResultStore
            The open results directory; tasks already stored are not run again.
        options : RunOptions, optional
            How the run is executed (default :class:`RunOptions`).

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
