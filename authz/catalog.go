package authz

import (
	"authz-gateway/freshness"
	"context"
	"fmt"

	"authz-gateway/access"
	"authz-gateway/apperr"
	"authz-gateway/cache"
	"authz-gateway/ent"
	"authz-gateway/ent/program"
	"authz-gateway/ent/project"
)

// CreateProgram creates a program. Needs PROGRAM_WRITE and a GLOBAL scope: a
// new program is outside every narrower scope. Only the catalog's size
// changes for the GLOBAL holders.
func (s *Service) CreateProgram(ctx context.Context, in ent.CreateProgramInput) (*ent.Program, error) {
	if err := cleanTexts(name(&in.Name), description(in.Description)); err != nil {
		return nil, err
	}
	var created *ent.Program
	err := s.write(ctx, "createProgram", access.ProgramWrite, func(reach access.Reach) error {
		if !reach.Global {
			return apperr.Errorf(apperr.Forbidden, "creating a program needs a GLOBAL scope")
		}
		return nil
	}, func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		if err := checkProgramNameFree(ctx, tx, in.Name, 0); err != nil {
			return freshness.Change{}, err
		}
		p, err := tx.Program.Create().SetInput(in).Save(ctx)
		if err != nil {
			return freshness.Change{}, dbError(err, "program")
		}
		created = p
		return freshness.Change{Users: catalogChanged, Target: fmt.Sprintf("program %d", p.ID), On: onProgram(p.ID)}, nil
	})
	if err != nil {
		return nil, err
	}
	return created.Unwrap(), nil
}

// UpdateProgram renames or redescribes a program. Needs PROGRAM_WRITE and the
// program in write reach. Cached answers hold IDs only, so nothing is invalidated.
func (s *Service) UpdateProgram(ctx context.Context, id int, in ent.UpdateProgramInput) (*ent.Program, error) {
	if err := cleanTexts(name(in.Name), description(in.Description)); err != nil {
		return nil, err
	}
	var updated *ent.Program
	err := s.write(ctx, "updateProgram", access.ProgramWrite, programWritable(id), func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		if in.Name != nil {
			if err := checkProgramNameFree(ctx, tx, *in.Name, id); err != nil {
				return freshness.Change{}, err
			}
		}
		p, err := tx.Program.UpdateOneID(id).SetInput(in).Save(ctx)
		updated = p
		return freshness.Change{Target: fmt.Sprintf("program %d", id), On: onProgram(id)}, dbError(err, "program")
	})
	if err != nil {
		return nil, err
	}
	return updated.Unwrap(), nil
}

// DeleteProgram deletes an empty program and the scopes on it. Needs
// PROGRAM_WRITE and the program in write reach; a program that still has projects is
// refused (BAD_USER_INPUT), so nothing is lost by accident.
func (s *Service) DeleteProgram(ctx context.Context, id int) (bool, error) {
	err := s.write(ctx, "deleteProgram", access.ProgramWrite, programWritable(id), func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		if err := s.lockRows(ctx, "program", tx.Program.Query().Where(program.ID(id)).ForUpdate()); err != nil {
			return freshness.Change{}, err
		}
		hasProjects, err := tx.Project.Query().Where(project.ProgramID(id)).Exist(ctx)
		if err != nil {
			return freshness.Change{}, dbError(err, "program")
		}
		if hasProjects {
			return freshness.Change{}, badInput("program %d still has projects; delete or move them first", id)
		}
		imp, err := holdersBeforeDelete(ctx, tx, freshness.Change{Programs: []int{id}, Users: catalogChanged,
			Target: fmt.Sprintf("program %d", id), On: onProgram(id)})
		if err != nil {
			return freshness.Change{}, err
		}
		return imp, dbError(tx.Program.DeleteOneID(id).Exec(ctx), "program")
	})
	return err == nil, err
}

// catalogChanged is the freshness.Change of a program or project created or deleted
// on the users who reach everything: only the catalog's size changes (their
// answers say "all"), and it is kept once, under the catalog pseudo-user.
var catalogChanged = []int{cache.CatalogUser}

func checkProgramNameFree(ctx context.Context, tx *ent.Tx, name string, except int) error {
	return mustBeFree(ctx, tx.Program.Query().Where(program.Name(name), program.IDNEQ(except)).Exist,
		"program", "the name is already taken by another program")
}

// CreateProject creates a project in a program. Needs PROJECT_WRITE and the
// program in write reach. Holders of the program gain it (GLOBAL holders see
// the catalog's size change).
func (s *Service) CreateProject(ctx context.Context, in ent.CreateProjectInput) (*ent.Project, error) {
	if err := cleanTexts(name(&in.Name), description(in.Description)); err != nil {
		return nil, err
	}
	var created *ent.Project
	err := s.write(ctx, "createProject", access.ProjectWrite, programWritable(in.ProgramID), func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		if err := programExists(ctx, tx, in.ProgramID); err != nil {
			return freshness.Change{}, err
		}
		if err := checkProjectNameFree(ctx, tx, in.ProgramID, in.Name, 0); err != nil {
			return freshness.Change{}, err
		}
		p, err := tx.Project.Create().SetInput(in).Save(ctx)
		if err != nil {
			return freshness.Change{}, dbError(err, "project")
		}
		created = p
		return freshness.Change{Programs: []int{in.ProgramID}, Users: catalogChanged,
			Target: fmt.Sprintf("project %d in program %d", p.ID, in.ProgramID), On: onProject(p.ID)}, nil
	})
	if err != nil {
		return nil, err
	}
	return created.Unwrap(), nil
}

// UpdateProject changes a project; a new programID moves it. Needs
// PROJECT_WRITE, the project in write reach and, for a move, the target
// program in write reach. A move changes the answers of the holders of both programs and of the
// project itself (its parent program changes).
func (s *Service) UpdateProject(ctx context.Context, id int, in ent.UpdateProjectInput) (*ent.Project, error) {
	if err := cleanTexts(name(in.Name), description(in.Description)); err != nil {
		return nil, err
	}
	inReach := projectWritable(id)
	if in.ProgramID != nil {
		inReach = all(inReach, programWritable(*in.ProgramID))
	}
	var updated *ent.Project
	err := s.write(ctx, "updateProject", access.ProjectWrite, inReach, func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		current, err := tx.Project.Get(ctx, id)
		if err != nil {
			return freshness.Change{}, dbError(err, "project")
		}
		target := current.ProgramID
		if in.ProgramID != nil {
			target = *in.ProgramID
			if err := programExists(ctx, tx, target); err != nil {
				return freshness.Change{}, err
			}
		}
		name := current.Name
		if in.Name != nil {
			name = *in.Name
		}
		if err := checkProjectNameFree(ctx, tx, target, name, id); err != nil {
			return freshness.Change{}, err
		}
		p, err := tx.Project.UpdateOneID(id).SetInput(in).Save(ctx)
		updated = p
		if target == current.ProgramID {
			return freshness.Change{Target: fmt.Sprintf("project %d", id), On: onProject(id)}, dbError(err, "project")
		}
		// A move concerns two programs: only GLOBAL viewers read its entry.
		return freshness.Change{Programs: []int{current.ProgramID, target}, Projects: []int{id},
			Target: fmt.Sprintf("project %d moved from program %d to %d", id, current.ProgramID, target)}, dbError(err, "project")
	})
	if err != nil {
		return nil, err
	}
	return updated.Unwrap(), nil
}

// DeleteProject deletes a project and the scopes on it. Needs PROJECT_WRITE
// and the project in write reach.
func (s *Service) DeleteProject(ctx context.Context, id int) (bool, error) {
	err := s.write(ctx, "deleteProject", access.ProjectWrite, projectWritable(id), func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		if err := s.lockRows(ctx, "project", tx.Project.Query().Where(project.ID(id)).ForUpdate()); err != nil {
			return freshness.Change{}, err
		}
		current, err := tx.Project.Get(ctx, id)
		if err != nil {
			return freshness.Change{}, dbError(err, "project")
		}
		imp, err := holdersBeforeDelete(ctx, tx, freshness.Change{
			Programs: []int{current.ProgramID}, Projects: []int{id}, Users: catalogChanged,
			Target: fmt.Sprintf("project %d", id), On: onProject(id),
		})
		if err != nil {
			return freshness.Change{}, err
		}
		return imp, dbError(tx.Project.DeleteOneID(id).Exec(ctx), "project")
	})
	return err == nil, err
}

func checkProjectNameFree(ctx context.Context, tx *ent.Tx, programID int, name string, except int) error {
	return mustBeFree(ctx, tx.Project.Query().
		Where(project.ProgramID(programID), project.Name(name), project.IDNEQ(except)).Exist,
		"project", "the name is already taken by another project of that program")
}

func programExists(ctx context.Context, tx *ent.Tx, id int) error {
	return mustExist(ctx, tx.Program.Query().Where(program.ID(id)).Exist, "program")
}

func badInput(format string, args ...any) error {
	return apperr.Errorf(apperr.BadUserInput, format, args...)
}
