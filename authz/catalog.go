package authz

import (
	"context"

	"authz-gateway/access"
	"authz-gateway/apperr"
	"authz-gateway/ent"
	"authz-gateway/ent/program"
	"authz-gateway/ent/project"
)

// CreateProgram creates a program. Needs PROGRAM_WRITE and a GLOBAL scope: a
// new program is outside every narrower scope. Every GLOBAL holder's answers
// change.
func (s *Service) CreateProgram(ctx context.Context, in ent.CreateProgramInput) (*ent.Program, error) {
	reach, err := s.require(ctx, access.ProgramWrite)
	if err != nil {
		return nil, err
	}
	if !reach.Global {
		return nil, apperr.Errorf(apperr.Forbidden, "creating a program needs a GLOBAL scope")
	}
	var created *ent.Program
	err = s.mutate(ctx, func(ctx context.Context, tx *ent.Tx) (impact, error) {
		if err := checkProgramNameFree(ctx, tx, in.Name, 0); err != nil {
			return impact{}, err
		}
		p, err := tx.Program.Create().SetInput(in).Save(ctx)
		created = p
		return impact{global: true}, dbError(err, "program")
	})
	if err != nil {
		return nil, err
	}
	return created.Unwrap(), nil
}

// UpdateProgram renames or redescribes a program. Needs PROGRAM_WRITE and the
// program in scope. Cached answers hold IDs only, so nothing is invalidated.
func (s *Service) UpdateProgram(ctx context.Context, id int, in ent.UpdateProgramInput) (*ent.Program, error) {
	reach, err := s.require(ctx, access.ProgramWrite)
	if err != nil {
		return nil, err
	}
	if !reach.HasProgram(id) {
		return nil, errOutOfScope("program")
	}
	var updated *ent.Program
	err = s.mutate(ctx, func(ctx context.Context, tx *ent.Tx) (impact, error) {
		if in.Name != nil {
			if err := checkProgramNameFree(ctx, tx, *in.Name, id); err != nil {
				return impact{}, err
			}
		}
		p, err := tx.Program.UpdateOneID(id).SetInput(in).Save(ctx)
		updated = p
		return impact{}, dbError(err, "program")
	})
	if err != nil {
		return nil, err
	}
	return updated.Unwrap(), nil
}

// DeleteProgram deletes an empty program and the scopes on it. Needs
// PROGRAM_WRITE and the program in scope; a program that still has projects is
// refused (BAD_USER_INPUT), so nothing is lost by accident.
func (s *Service) DeleteProgram(ctx context.Context, id int) (bool, error) {
	reach, err := s.require(ctx, access.ProgramWrite)
	if err != nil {
		return false, err
	}
	if !reach.HasProgram(id) {
		return false, errOutOfScope("program")
	}
	err = s.mutate(ctx, func(ctx context.Context, tx *ent.Tx) (impact, error) {
		if err := s.lockPrograms(ctx, tx, id); err != nil {
			return impact{}, err
		}
		hasProjects, err := tx.Project.Query().Where(project.ProgramID(id)).Exist(ctx)
		if err != nil {
			return impact{}, dbError(err, "program")
		}
		if hasProjects {
			return impact{}, badInput("program %d still has projects; delete or move them first", id)
		}
		imp, err := holdersBeforeDelete(ctx, tx, impact{programs: []int{id}, global: true})
		if err != nil {
			return impact{}, err
		}
		return imp, dbError(tx.Program.DeleteOneID(id).Exec(ctx), "program")
	})
	if err != nil {
		return false, err
	}
	return true, nil
}

func checkProgramNameFree(ctx context.Context, tx *ent.Tx, name string, except int) error {
	taken, err := tx.Program.Query().Where(program.Name(name), program.IDNEQ(except)).Exist(ctx)
	if err != nil {
		return dbError(err, "program")
	}
	if taken {
		return badInput("a program named %q already exists", name)
	}
	return nil
}

// CreateProject creates a project in a program. Needs PROJECT_WRITE and the
// program in scope. Holders of the program and every GLOBAL holder gain it.
func (s *Service) CreateProject(ctx context.Context, in ent.CreateProjectInput) (*ent.Project, error) {
	reach, err := s.require(ctx, access.ProjectWrite)
	if err != nil {
		return nil, err
	}
	if !reach.HasProgram(in.ProgramID) {
		return nil, errOutOfScope("program")
	}
	var created *ent.Project
	err = s.mutate(ctx, func(ctx context.Context, tx *ent.Tx) (impact, error) {
		if err := programExists(ctx, tx, in.ProgramID); err != nil {
			return impact{}, err
		}
		if err := checkProjectNameFree(ctx, tx, in.ProgramID, in.Name, 0); err != nil {
			return impact{}, err
		}
		p, err := tx.Project.Create().SetInput(in).Save(ctx)
		created = p
		return impact{programs: []int{in.ProgramID}, global: true}, dbError(err, "project")
	})
	if err != nil {
		return nil, err
	}
	return created.Unwrap(), nil
}

// UpdateProject changes a project; a new programID moves it. Needs
// PROJECT_WRITE, the project in scope and, for a move, the target program in
// scope. A move changes the answers of the holders of both programs and of the
// project itself (its parent program changes).
func (s *Service) UpdateProject(ctx context.Context, id int, in ent.UpdateProjectInput) (*ent.Project, error) {
	reach, err := s.require(ctx, access.ProjectWrite)
	if err != nil {
		return nil, err
	}
	if !reach.HasProject(id) {
		return nil, errOutOfScope("project")
	}
	if in.ProgramID != nil && !reach.HasProgram(*in.ProgramID) {
		return nil, errOutOfScope("program")
	}
	var updated *ent.Project
	err = s.mutate(ctx, func(ctx context.Context, tx *ent.Tx) (impact, error) {
		current, err := tx.Project.Get(ctx, id)
		if err != nil {
			return impact{}, dbError(err, "project")
		}
		target := current.ProgramID
		if in.ProgramID != nil {
			target = *in.ProgramID
			if err := programExists(ctx, tx, target); err != nil {
				return impact{}, err
			}
		}
		name := current.Name
		if in.Name != nil {
			name = *in.Name
		}
		if err := checkProjectNameFree(ctx, tx, target, name, id); err != nil {
			return impact{}, err
		}
		p, err := tx.Project.UpdateOneID(id).SetInput(in).Save(ctx)
		updated = p
		if target == current.ProgramID {
			return impact{}, dbError(err, "project")
		}
		return impact{programs: []int{current.ProgramID, target}, projects: []int{id}}, dbError(err, "project")
	})
	if err != nil {
		return nil, err
	}
	return updated.Unwrap(), nil
}

// DeleteProject deletes a project and the scopes on it. Needs PROJECT_WRITE
// and the project in scope.
func (s *Service) DeleteProject(ctx context.Context, id int) (bool, error) {
	reach, err := s.require(ctx, access.ProjectWrite)
	if err != nil {
		return false, err
	}
	if !reach.HasProject(id) {
		return false, errOutOfScope("project")
	}
	err = s.mutate(ctx, func(ctx context.Context, tx *ent.Tx) (impact, error) {
		if err := s.lockProjects(ctx, tx, id); err != nil {
			return impact{}, err
		}
		current, err := tx.Project.Get(ctx, id)
		if err != nil {
			return impact{}, dbError(err, "project")
		}
		imp, err := holdersBeforeDelete(ctx, tx, impact{
			programs: []int{current.ProgramID}, projects: []int{id}, global: true,
		})
		if err != nil {
			return impact{}, err
		}
		return imp, dbError(tx.Project.DeleteOneID(id).Exec(ctx), "project")
	})
	if err != nil {
		return false, err
	}
	return true, nil
}

func checkProjectNameFree(ctx context.Context, tx *ent.Tx, programID int, name string, except int) error {
	taken, err := tx.Project.Query().
		Where(project.ProgramID(programID), project.Name(name), project.IDNEQ(except)).
		Exist(ctx)
	if err != nil {
		return dbError(err, "project")
	}
	if taken {
		return badInput("program %d already has a project named %q", programID, name)
	}
	return nil
}

func programExists(ctx context.Context, tx *ent.Tx, id int) error {
	ok, err := tx.Program.Query().Where(program.ID(id)).Exist(ctx)
	if err != nil {
		return dbError(err, "program")
	}
	if !ok {
		return apperr.Errorf(apperr.NotFound, "program not found")
	}
	return nil
}

func badInput(format string, args ...any) error {
	return apperr.Errorf(apperr.BadUserInput, format, args...)
}
